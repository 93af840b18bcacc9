package io.kvgate.models;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.ShortBuffer;

/**
 * Turns memory-mapped safetensors tensors into NDArrays on a device in the compute dtype. Data passes
 * through one reusable direct buffer (at most {@link #SCRATCH_BYTES}): bf16 is widened to float32 there by a
 * 16-bit shift (DJL must never see bf16), f16/f32 are copied; big tensors go in row blocks. The NDArray
 * then gets its own libtorch storage, so Java's direct memory stays bounded by the scratch size.
 */
final class TensorLoader implements AutoCloseable {
    static final int SCRATCH_BYTES = 64 << 20;

    private final NDManager target;
    private final Device device;
    private final DataType dtype;
    private final NDManager staging = NDManager.newBaseManager(Device.cpu());
    private final ByteBuffer scratch = ByteBuffer.allocateDirect(SCRATCH_BYTES).order(ByteOrder.nativeOrder());

    TensorLoader(NDManager target, DataType dtype) {
        this.target = target;
        this.device = target.getDevice();
        this.dtype = dtype;
    }

    /** Loads a tensor, attached to the target manager, in the compute dtype. */
    NDArray load(Checkpoint.Tensor t) {
        SafetensorsFile.TensorInfo info = t.info();
        long[] shape = info.shape();
        long rows = shape.length == 0 ? 1 : shape[0];
        long rowElems = rows == 0 ? 0 : info.numel() / Math.max(rows, 1);
        long rowBytesF32 = Math.max(rowElems * 4, 1);
        long rowsPerBlock = Math.max(1, SCRATCH_BYTES / rowBytesF32);
        if (rowElems * 4 > SCRATCH_BYTES) throw new KvgateException(info.name() + ": a row of " + rowElems + " values is too large to load");
        if (rows <= rowsPerBlock) return block(t, 0, rows, shape);
        NDList parts = new NDList();
        try (NDManager tmp = target.newSubManager()) {
            for (long r = 0; r < rows; r += rowsPerBlock) {
                long n = Math.min(rowsPerBlock, rows - r);
                NDArray part = block(t, r, n, shape);
                part.attach(tmp);
                parts.add(part);
            }
            NDArray whole = NDArrays.concat(parts, 0);
            whole.attach(target);
            return whole;
        }
    }

    /** Rows [r0, r0+n) of the tensor as an NDArray on the target device. */
    private NDArray block(Checkpoint.Tensor t, long r0, long n, long[] fullShape) {
        SafetensorsFile.TensorInfo info = t.info();
        long[] shape = fullShape.clone();
        if (shape.length > 0) shape[0] = n;
        long numel = 1;
        for (long d : shape) numel *= d;
        int bytesIn = info.dtype().bytes;
        long rowElems = fullShape.length == 0 ? 1 : (fullShape[0] == 0 ? 0 : info.numel() / fullShape[0]);
        ByteBuffer src = t.file().map(info, r0 * rowElems * bytesIn, numel * bytesIn);
        scratch.clear();
        DataType stagedType;
        switch (info.dtype()) {
            case BF16 -> {
                ShortBuffer in = src.asShortBuffer();
                IntBuffer out = scratch.asIntBuffer();
                for (int i = 0, m = (int) numel; i < m; i++) out.put(i, (in.get(i) & 0xffff) << 16);
                scratch.limit((int) numel * 4);
                stagedType = DataType.FLOAT32;
            }
            case F32 -> {
                FloatBuffer in = src.asFloatBuffer();
                scratch.asFloatBuffer().put(in);
                scratch.limit((int) numel * 4);
                stagedType = DataType.FLOAT32;
            }
            case F16 -> {
                scratch.asShortBuffer().put(src.asShortBuffer());
                scratch.limit((int) numel * 2);
                stagedType = DataType.FLOAT16;
            }
            default -> throw new KvgateException(t.file().path() + ": tensor '" + info.name() + "' is " + info.dtype()
                    + "; weights must be F32, F16 or BF16");
        }
        ByteBuffer view = scratch.slice().order(ByteOrder.nativeOrder());
        try (NDManager step = staging.newSubManager()) {
            NDArray blob = step.create(view, new Shape(shape), stagedType); // wraps the scratch buffer
            // a clone or a conversion gives the array its own libtorch storage, independent of the scratch
            NDArray owned = stagedType == dtype ? blob.duplicate() : blob.toType(dtype, true);
            if (!device.equals(Device.cpu())) owned = owned.toDevice(device, false);
            owned.attach(target);
            return owned;
        }
    }

    @Override
    public void close() {
        staging.close();
    }
}
