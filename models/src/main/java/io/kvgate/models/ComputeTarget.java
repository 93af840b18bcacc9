package io.kvgate.models;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.types.DataType;

import java.util.Locale;

/**
 * Where and in which precision a model computes: the parsed form of the CLI's {@code --device} and
 * {@code --dtype} options. float32 everywhere; float16 only on a GPU (CPU half-precision matmuls are slow
 * and partly unsupported by libtorch); bfloat16 never (DJL's PyTorch JNI aborts the JVM on bf16 arrays).
 */
public record ComputeTarget(Device device, DataType dtype) {
    public static final String DEVICE_HELP = "cpu, gpu (the first GPU), gpu:N, or auto (a GPU if the engine sees one)";
    public static final String DTYPE_HELP = "float32, or float16 (GPU only); auto = float16 on GPU, float32 on CPU";

    public ComputeTarget {
        if (dtype != DataType.FLOAT32 && dtype != DataType.FLOAT16) {
            throw new KvgateException("--dtype " + dtype + ": expected float32 or float16");
        }
        if (dtype == DataType.FLOAT16 && !device.isGpu()) {
            throw new KvgateException("--dtype float16 needs --device gpu (CPU computes in float32)");
        }
    }

    /** Parses {@code --device} and {@code --dtype} values (see {@link #DEVICE_HELP}, {@link #DTYPE_HELP}). */
    public static ComputeTarget parse(String device, String dtype) {
        Device dev = parseDevice(device);
        return new ComputeTarget(dev, parseDtype(dtype, dev));
    }

    public static Device parseDevice(String value) {
        String v = value == null ? "auto" : value.trim().toLowerCase(Locale.ROOT);
        int gpus = v.equals("cpu") ? 0 : Engine.getEngine("PyTorch").getGpuCount();
        if (v.equals("cpu") || (v.equals("auto") && gpus == 0)) {
            return Device.cpu();
        }
        int id = 0;
        if (v.startsWith("gpu:") || v.startsWith("cuda:")) {
            try {
                id = Integer.parseInt(v.substring(v.indexOf(':') + 1));
            } catch (NumberFormatException e) {
                throw new KvgateException("--device " + value + ": expected " + DEVICE_HELP);
            }
        } else if (!v.equals("gpu") && !v.equals("cuda") && !v.equals("auto")) {
            throw new KvgateException("--device " + value + ": expected " + DEVICE_HELP);
        }
        if (id < 0 || id >= gpus) {
            throw new KvgateException("--device " + value + ": the PyTorch engine sees " + gpus + " GPU(s)"
                    + (gpus == 0 ? " (is PYTORCH_LIBRARY_PATH set to a CUDA libtorch? see docs/GPU.md)" : ""));
        }
        return Device.gpu(id);
    }

    public static DataType parseDtype(String value, Device device) {
        String v = value == null ? "auto" : value.trim().toLowerCase(Locale.ROOT);
        return switch (v) {
            case "auto" -> device.isGpu() ? DataType.FLOAT16 : DataType.FLOAT32;
            case "float32", "fp32", "f32" -> DataType.FLOAT32;
            case "float16", "fp16", "f16", "half" -> DataType.FLOAT16;
            default -> throw new KvgateException("--dtype " + value + ": expected " + DTYPE_HELP);
        };
    }

    @Override
    public String toString() {
        return device + "/" + (dtype == DataType.FLOAT16 ? "float16" : "float32");
    }
}
