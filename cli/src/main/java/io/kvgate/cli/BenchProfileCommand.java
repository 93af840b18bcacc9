package io.kvgate.cli;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.util.cuda.CudaUtils;
import io.kvgate.models.Checkpoint;
import io.kvgate.models.ComputeTarget;
import io.kvgate.models.ForwardOptions;
import io.kvgate.models.ForwardResult;
import io.kvgate.models.GpuTrace;
import io.kvgate.models.KvCache;
import io.kvgate.models.KvgateException;
import io.kvgate.models.Model;
import io.kvgate.models.util.TextTable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

import static io.kvgate.models.util.Timings.median;

/**
 * Where a forward pass spends its time on a device. Prefill (one forward over T random ids, fresh cache) and
 * greedy decode steps (one id each, the chosen id read back to the host, as generation does) are timed at each
 * context length; then a few decode steps run under libtorch's profiler, whose trace gives the ops (JNI calls)
 * per token, the host time inside libtorch, and the time spent waiting in ops that sync with the device.
 */
@Command(name = "profile", mixinStandardHelpOptions = true,
        description = "Prefill/decode timing on a device plus a per-op profile of decode steps (JNI calls, host syncs).")
public final class BenchProfileCommand implements Runnable {
    @Mixin
    ModelOptions modelOptions;

    @Option(names = "--contexts", defaultValue = "1024", split = ",", description = "Context lengths (prefill tokens).")
    int[] contexts;

    @Option(names = "--prefill-reps", defaultValue = "3", description = "Timed prefills per context (after one warm-up).")
    int prefillReps;

    @Option(names = "--steps", defaultValue = "32", description = "Timed decode steps per context.")
    int steps;

    @Option(names = "--warmup", defaultValue = "4", description = "Untimed decode steps first.")
    int warmup;

    @Option(names = "--profile-steps", defaultValue = "4", description = "Decode steps run under the profiler (0 = none).")
    int profileSteps;

    @Option(names = "--chunk", defaultValue = "0", description = "Prefill chunk size in tokens (0 = the model's default).")
    int chunk;

    @Option(names = "--trace-dir", description = "Keep the raw profiler traces here (JSON, one per context).")
    Path traceDir;

    @Option(names = "--keep", defaultValue = "0", description = "Also time decode on a copy of the cache that keeps only this "
            + "fraction of every head's KV entries (a random subset per head, as a gate would keep; 0 = skip), "
            + "alternating steps with the full cache.")
    double keep;

    @Option(names = "--seed", defaultValue = "1")
    long seed;

    @Override
    public void run() {
        ComputeTarget target = new ComputeTarget(modelOptions.device(), modelOptions.dataType());
        if (steps <= 0 || prefillReps <= 0) throw new KvgateException("--steps and --prefill-reps must be positive");
        TextTable timing = new TextTable("context", "prefill s", "prefill tok/s", "decode ms/step", "decode tok/s",
                "KV MB", "device MB in use", "peak allocated MB");
        TextTable keptTable = new TextTable("context", "KV kept", "full ms/step", "kept ms/step", "kept/full", "KV MB kept", "vs full");
        StringBuilder profiles = new StringBuilder();
        String decodePath;
        try (Checkpoint ck = modelOptions.openCheckpoint(); Model model = Model.load(ck, target.device(), target.dtype())) {
            if (chunk > 0) model.setPrefillChunk(chunk);
            System.out.printf("prefill chunk %d; ", model.prefillChunk());
            System.out.printf("%s on %s, %d layers, %d KV heads, vocab %d%n", ck.dir(), target,
                    ck.config().numLayers(), ck.config().numKvHeads(), ck.config().vocabSize());
            Random random = new Random(seed);
            for (int t : contexts) {
                int[] ids = random.ints(t, 0, ck.config().vocabSize()).toArray();
                model.resetPeakDeviceMemory();
                greedyAfterPrefill(model, ids); // warm-up: kernel selection, allocator growth
                double[] prefill = new double[prefillReps];
                for (int r = 0; r < prefillReps; r++) {
                    long t0 = System.nanoTime();
                    greedyAfterPrefill(model, ids);
                    prefill[r] = (System.nanoTime() - t0) / 1e9;
                }
                double pf = median(prefill);
                if (profileSteps > 0) profiles.append(prefillGpuLine(model, ids));

                try (KvCache cache = model.newCache()) {
                    int next = step(model, cache, ids);
                    double[] dec = new double[steps];
                    for (int i = 0; i < warmup + steps; i++) {
                        long t0 = System.nanoTime();
                        next = step(model, cache, new int[] {next});
                        if (i >= warmup) dec[i - warmup] = (System.nanoTime() - t0) / 1e9;
                    }
                    double ms = median(dec) * 1e3;
                    String inUse = target.device().isGpu()
                            ? String.format("%.0f", CudaUtils.getGpuMemory(target.device()).getCommitted() / 1e6) : "-";
                    long[] mem = model.deviceMemory();
                    timing.row(t, fmt(pf), fmt(t / pf), fmt(ms), fmt(1e3 / ms), fmt(cache.bytes() / 1e6), inUse,
                            mem == null ? "-" : String.format("%.0f", mem[1] / 1e6));
                    if (profileSteps > 0) profiles.append(profile(model, cache, next, t, ms, "full cache"));
                    if (keep > 0 && keep < 1) {
                        // a kept copy, then steps alternating between the two caches, so that both see the same JIT
                        // state and machine load (sequential runs on a shared CPU differed by up to 2x)
                        try (KvCache kept = cache.subset(p -> true)) {
                            evictRandom(kept, keep, random);
                            double[] decFull = new double[steps], decKept = new double[steps];
                            int nextFull = next, nextKept = next;
                            for (int i = 0; i < warmup + steps; i++) {
                                long t0 = System.nanoTime();
                                nextFull = step(model, cache, new int[] {nextFull});
                                long t1 = System.nanoTime();
                                nextKept = step(model, kept, new int[] {nextKept});
                                if (i >= warmup) {
                                    decFull[i - warmup] = (t1 - t0) / 1e9;
                                    decKept[i - warmup] = (System.nanoTime() - t1) / 1e9;
                                }
                            }
                            double fullMs = median(decFull) * 1e3, keptMs = median(decKept) * 1e3;
                            long fullBytes = cache.bytes();
                            keptTable.row(t, String.format("%.0f%%", keep * 100), fmt(fullMs), fmt(keptMs), fmt(keptMs / fullMs) + "×",
                                    fmt(kept.bytes() / 1e6), fmt((double) kept.bytes() / fullBytes) + "×");
                            if (profileSteps > 0) profiles.append(profile(model, kept, nextKept, t, keptMs, String.format("%.0f%% kept", keep * 100)));
                        }
                    }
                }
            }
            decodePath = model.decodePath();
        }
        System.out.print(timing);
        System.out.println("decode steps: " + decodePath + (target.device().isGpu() ? "" : "; peak allocated: GPU only (kvgate's CUDA-graph operators)"));
        if (keep > 0 && keep < 1) System.out.print(keptTable);
        System.out.print(profiles);
    }

    /** Runs decode steps under libtorch's profiler and summarises the trace per step. */
    private String profile(Model model, KvCache cache, int next, int context, double unprofiledMs, String what) {
        Path trace;
        try {
            if (traceDir != null) {
                Files.createDirectories(traceDir);
                trace = traceDir.resolve("decode-trace-" + context + "-" + what.replaceAll("[^0-9a-z]+", "_") + ".json");
            } else {
                trace = Files.createTempFile("kvgate-trace", ".json");
                trace.toFile().deleteOnExit();
            }
        } catch (IOException e) {
            throw new KvgateException("cannot create a trace file: " + e.getMessage());
        }
        JniUtils.startProfile(false, false, false);
        long t0 = System.nanoTime();
        for (int i = 0; i < profileSteps; i++) next = step(model, cache, new int[] {next});
        double wallUs = (System.nanoTime() - t0) / 1e3 / profileSteps;
        JniUtils.stopProfile(trace.toString());
        ProfilerTrace tr = ProfilerTrace.read(trace);

        double n = profileSteps;
        StringBuilder sb = new StringBuilder();
        sb.append(String.format("%nDecode profile at context %d, %s (%d steps; %.2f ms/step unprofiled, %.2f ms/step profiled):%n",
                context, what, profileSteps, unprofiledMs, wallUs / 1e3));
        sb.append(new TextTable("per decode step", "value")
                .row("JNI calls (top-level libtorch ops)", fmt(tr.topLevel().size() / n))
                .row("host ms inside libtorch ops", fmt(tr.hostMicros() / n / 1e3))
                .row("host ms outside (Java, JNI marshalling)", fmt((wallUs - tr.hostMicros() / n) / 1e3))
                .row("host µs per JNI call (wall / calls)", fmt(wallUs / (tr.topLevel().size() / n)))
                .row("scalar reads (_local_scalar_dense/item)", fmt(tr.syncCount() / n)));
        TextTable ops = new TextTable("op", "calls/step", "host µs/step", "µs/call");
        List<Map.Entry<String, double[]>> byName = tr.byName();
        for (Map.Entry<String, double[]> e : byName.subList(0, Math.min(15, byName.size()))) {
            double[] v = e.getValue();
            ops.row(e.getKey(), fmt(v[0] / n), fmt(v[1] / n), fmt(v[1] / v[0]));
        }
        sb.append(ops);
        GpuTrace gpu = model.startGpuTrace();
        if (gpu != null) { // a second run of as many steps: Kineto's tracing and the host profiler do not run together
            for (int i = 0; i < profileSteps; i++) next = step(model, cache, new int[] {next});
            GpuTrace.Summary s = gpu.stop(traceDir == null ? null : traceDir.resolve(trace.getFileName().toString().replace("decode-trace", "decode-gpu")));
            // shares of the unprofiled step: tracing slows the host (tiny model on an H100: 0.6 -> 2.8 ms a step)
            sb.append(String.format("GPU time of %d more steps (kvgate's Kineto trace):%n", profileSteps));
            sb.append(GpuTraceReport.perUnit(s, n, "step", unprofiledMs * n, 12));
        }
        return sb.toString();
    }

    /** One prefill (and its first greedy token) under a GPU trace: how much of its wall time the GPU worked. */
    private static String prefillGpuLine(Model model, int[] ids) {
        GpuTrace gpu = model.startGpuTrace();
        if (gpu == null) return "";
        long t0 = System.nanoTime();
        greedyAfterPrefill(model, ids);
        double wallMs = (System.nanoTime() - t0) / 1e6;
        GpuTrace.Summary s = gpu.stop(null);
        return String.format(Locale.ROOT, "prefill of %d: GPU busy %.2f ms of %.2f ms wall (%.0f%%), %d launches%n", ids.length,
                s.busyNs() / 1e6, wallMs, 100 * s.busyNs() / 1e6 / wallMs, s.launches());
    }

    /** Keeps a random {@code fraction} of every (layer, head)'s entries, always including the newest one. */
    private static void evictRandom(KvCache cache, double fraction, Random random) {
        for (int l = 0; l < cache.numLayers(); l++) {
            for (int h = 0; h < cache.numKvHeads(); h++) {
                int n = cache.length(l, h);
                int k = Math.max(1, (int) Math.round(fraction * n));
                int[] order = random.ints(0, n - 1).distinct().limit(k - 1).sorted().toArray();
                int[] keepIdx = Arrays.copyOf(order, k);
                keepIdx[k - 1] = n - 1;
                cache.retain(l, h, keepIdx);
            }
        }
    }

    /** A full prefill on a fresh cache, then the greedy id read back (what a generate call does first). */
    private static void greedyAfterPrefill(Model model, int[] ids) {
        try (KvCache cache = model.newCache()) {
            step(model, cache, ids);
        }
    }

    /** One forward over {@code ids} with last-position logits; returns the greedy next id (one host read). */
    private static int step(Model model, KvCache cache, int[] ids) {
        try (NDManager scope = model.manager().newSubManager()) {
            ForwardResult r = model.forward(scope, cache, ids, ForwardOptions.defaults());
            NDArray best = r.logits().argMax(-1);
            return (int) best.toLongArray()[0];
        }
    }


    private static String fmt(double v) {
        return v >= 100 ? String.format("%.0f", v) : String.format("%.3g", v);
    }
}
