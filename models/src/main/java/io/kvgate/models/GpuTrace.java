package io.kvgate.models;

import ai.djl.pytorch.jni.IValue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * The GPU's own time over a stretch of work, kernel by kernel: torch's Kineto profiler (CUPTI) driven through kvgate's
 * operators (native/kvgate_gpu_trace.cpp, the fused module's {@code gpu_trace_start/stop}).
 *
 * <p>Why: DJL's profiler records host times only, so a profile could count libtorch calls and host time, but not say
 * how long the GPU worked or on what (a decode step is one CUDA-graph replay: one host call, hundreds of kernels; a
 * gate's overhead at 8K is GPU time, not host time). {@link Model#startGpuTrace()} hands one out where it exists.
 */
public final class GpuTrace {
    /** One kernel (or copy, memset) name: how often it ran and its summed GPU time. */
    public record Kernel(String name, long count, long totalNs) {}

    /**
     * What the GPU did: {@code busyNs} the union of its activity intervals (time it worked), {@code spanNs} first start
     * to last end, kernels by total time, largest first.
     */
    public record Summary(long busyNs, long spanNs, List<Kernel> kernels) {
        /** Launches of all kinds (kernels, copies, memsets). */
        public long launches() {
            return kernels.stream().mapToLong(Kernel::count).sum();
        }
    }

    private final FusedAttention fused;
    private final Model model;
    private boolean stopped;

    private GpuTrace(FusedAttention fused, Model model) {
        this.fused = fused;
        this.model = model;
    }

    /** Starts recording after the device finished what was queued before (so that none of it is counted). */
    static GpuTrace start(FusedAttention fused, Model model) {
        model.awaitDevice();
        fused.callForEffect("gpu_trace_start");
        return new GpuTrace(fused, model);
    }

    /** Waits for the device, stops recording and summarises; the full Chrome trace is saved to {@code saveTo} if not null. */
    public Summary stop(Path saveTo) {
        if (stopped) throw new IllegalStateException("GPU trace already stopped");
        stopped = true;
        model.awaitDevice();
        try (IValue path = IValue.from(saveTo == null ? "" : saveTo.toAbsolutePath().toString());
             IValue r = fused.call("gpu_trace_stop", path)) {
            return parse(r.toStringValue());
        }
    }

    /**
     * Reads the operator's summary: "busy\tNS", "span\tNS", then one "COUNT\tTOTAL_NS\tNAME" line per name (names may
     * hold tabs; they are the rest of the line).
     */
    static Summary parse(String text) {
        String[] lines = text.split("\n");
        if (lines.length < 2 || !lines[0].startsWith("busy\t") || !lines[1].startsWith("span\t"))
            throw new KvgateException("kvgate::gpu_trace_stop returned an unexpected summary (rebuild the CUDA-graph operators): "
                    + (lines.length > 0 ? lines[0] : ""));
        long busy = Long.parseLong(lines[0].substring(5).trim()), span = Long.parseLong(lines[1].substring(5).trim());
        List<Kernel> kernels = new ArrayList<>();
        for (int i = 2; i < lines.length; i++) {
            if (lines[i].isEmpty()) continue;
            String[] f = lines[i].split("\t", 3);
            kernels.add(new Kernel(f[2], Long.parseLong(f[0]), Long.parseLong(f[1])));
        }
        kernels.sort(Comparator.comparingLong(Kernel::totalNs).reversed());
        return new Summary(busy, span, List.copyOf(kernels));
    }
}
