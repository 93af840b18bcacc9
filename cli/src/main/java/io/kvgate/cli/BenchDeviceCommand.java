package io.kvgate.cli;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.util.cuda.CudaUtils;
import io.kvgate.models.ComputeTarget;
import io.kvgate.models.util.TextTable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;


import static io.kvgate.models.util.Timings.median;

/**
 * What the engine costs per call on a device: the fixed price of one DJL op (Java → JNI → libtorch dispatch →
 * kernel launch), of one host round trip (reading a value back), and the two ceilings a model's speed is held
 * against (matmul rate, device copy bandwidth). A decode step of a small model is a few hundred such ops, so
 * these numbers explain decode speed before any model runs.
 */
@Command(name = "device", mixinStandardHelpOptions = true,
        description = "Per-op dispatch cost, host round-trip cost, matmul rate and copy bandwidth of the engine on a device.")
public final class BenchDeviceCommand implements Runnable {
    @Mixin
    TargetOptions targetOptions;

    @Option(names = "--ops", defaultValue = "5000", description = "Small ops timed for the per-op cost.")
    int ops;

    @Option(names = "--matmul", defaultValue = "0", description = "Square matmul size (0 = 8192 on GPU, 1024 on CPU).")
    int matmulSize;

    @Option(names = "--reps", defaultValue = "10", description = "Repetitions of each large measurement.")
    int reps;

    @Override
    public void run() {
        ComputeTarget target = targetOptions.target();
        Engine engine = Engine.getEngine("PyTorch");
        Device dev = target.device();
        DataType dt = target.dtype();
        System.out.printf("engine %s %s, GPUs seen %d, device %s%s%n", engine.getEngineName(), engine.getVersion(),
                engine.getGpuCount(), target, dev.isGpu() ? ", compute capability " + CudaUtils.getComputeCapability(dev.getDeviceId()) : "");

        TextTable table = new TextTable("measurement", "value", "unit", "how");
        try (NDManager root = NDManager.newBaseManager(dev)) {
            NDArray x = root.randomNormal(new Shape(1, 1024)).toType(dt, false);
            NDArray y = root.randomNormal(new Shape(1, 1024)).toType(dt, false);
            syncOn(x.add(y));

            // 1. per-op cost: many tiny adds queued back to back, one read at the end
            double[] perOp = new double[3];
            for (int r = 0; r < perOp.length; r++) {
                try (NDManager step = root.newSubManager()) {
                    long t0 = System.nanoTime();
                    NDArray acc = x;
                    for (int i = 0; i < ops; i++) {
                        NDArray z = acc.add(y);
                        z.attach(step);
                        acc = z;
                    }
                    long queued = System.nanoTime();
                    syncOn(acc);
                    perOp[r] = (System.nanoTime() - t0) / 1e3 / ops;
                    if (r == perOp.length - 1) {
                        table.row("op issue (host side)", fmt((queued - t0) / 1e3 / ops), "us/op", ops + " adds [1,1024], no reads");
                    }
                }
            }
            table.row("op incl. device time", fmt(median(perOp)), "us/op", "same, until the last result is read");

            // 2. host round trip: one op and one read each time (what a per-token sync costs)
            int trips = Math.max(50, ops / 20);
            try (NDManager step = root.newSubManager()) {
                long t0 = System.nanoTime();
                for (int i = 0; i < trips; i++) {
                    NDArray z = x.add(y);
                    z.attach(step);
                    syncOn(z);
                }
                table.row("op + host read", fmt((System.nanoTime() - t0) / 1e3 / trips), "us", trips + " × (add, read 1 value)");
            }

            // 3. matmul rate
            int n = matmulSize > 0 ? matmulSize : (dev.isGpu() ? 8192 : 1024);
            try (NDManager step = root.newSubManager()) {
                NDArray a = step.randomNormal(new Shape(n, n)).toType(dt, false);
                NDArray b = step.randomNormal(new Shape(n, n)).toType(dt, false);
                syncOn(a.matMul(b));
                double[] t = new double[reps];
                for (int r = 0; r < reps; r++) {
                    try (NDManager inner = step.newSubManager()) {
                        long t0 = System.nanoTime();
                        NDArray c = a.matMul(b);
                        c.attach(inner);
                        syncOn(c);
                        t[r] = (System.nanoTime() - t0) / 1e9;
                    }
                }
                double matmulS = median(t);
                table.row("matmul " + n + "³", fmt(2.0 * n * n * (double) n / matmulS / 1e12), "TFLOP/s", "median of " + reps);

                // 3b. does an op with a Java scalar operand wait for queued device work? (DJL copies the scalar
                // from the host; a blocking copy would stall the host until the matmul above is done)
                NDArray scalar = step.create(0.5f).toType(dt, false);
                double[] withTensor = new double[reps], withScalar = new double[reps];
                for (int r = 0; r < reps; r++) {
                    try (NDManager inner = step.newSubManager()) {
                        NDArray c = a.matMul(b);
                        c.attach(inner);
                        long t0 = System.nanoTime();
                        x.mul(scalar).attach(inner);
                        withTensor[r] = (System.nanoTime() - t0) / 1e3;
                        syncOn(c);
                        NDArray c2 = a.matMul(b);
                        c2.attach(inner);
                        t0 = System.nanoTime();
                        x.mul(0.5f).attach(inner);
                        withScalar[r] = (System.nanoTime() - t0) / 1e3;
                        syncOn(c2);
                    }
                }
                table.row("op, device-array operand, matmul queued", fmt(median(withTensor)), "us", "host time of x.mul(array)");
                table.row("op, Java scalar operand, matmul queued", fmt(median(withScalar)), "us",
                        "host time of x.mul(0.5f); matmul takes " + fmt(matmulS * 1e6) + " us");
            }

            // 4. device copy bandwidth (bytes read + written)
            long elems = dev.isGpu() ? (1L << 28) : (1L << 24);
            try (NDManager step = root.newSubManager()) {
                NDArray a = step.ones(new Shape(elems), DataType.FLOAT32);
                syncOn(a.duplicate());
                double[] t = new double[reps];
                for (int r = 0; r < reps; r++) {
                    try (NDManager inner = step.newSubManager()) {
                        long t0 = System.nanoTime();
                        NDArray c = a.duplicate();
                        c.attach(inner);
                        syncOn(c);
                        t[r] = (System.nanoTime() - t0) / 1e9;
                    }
                }
                table.row("copy bandwidth", fmt(2.0 * elems * 4 / median(t) / 1e9), "GB/s", (elems * 4 >> 20) + " MiB copy, read+write");
            }
        }
        if (dev.isGpu()) {
            var mem = CudaUtils.getGpuMemory(dev);
            table.row("GPU memory in use", fmt(mem.getCommitted() / 1e9), "GB", "of " + fmt(mem.getMax() / 1e9) + " (cudaMemGetInfo)");
        }
        System.out.print(table);
    }

    /** Reads one element back to the host, which waits for every op queued before it. */
    private static void syncOn(NDArray a) {
        NDArray flat = a.flatten();
        NDArray first = flat.get(0);
        NDArray f32 = first.toType(DataType.FLOAT32, true);
        f32.getFloat();
        f32.close();
        first.close();
        flat.close();
    }

    private static String fmt(double v) {
        return v >= 100 ? String.format("%.0f", v) : String.format("%.3g", v);
    }
}
