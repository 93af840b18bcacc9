package io.kvgate.cli;

import io.kvgate.evaluator.EvictionBenchmark;
import io.kvgate.export.GateArtifact;
import io.kvgate.evaluator.policy.LayerGates;
import io.kvgate.evaluator.policy.Policies;
import io.kvgate.evaluator.policy.Policy;
import io.kvgate.evaluator.policy.Protection;
import io.kvgate.evaluator.runtime.CompressedContext;
import io.kvgate.evaluator.runtime.EvictionSettings;
import io.kvgate.models.GpuTrace;
import io.kvgate.models.KvgateException;
import io.kvgate.models.Model;
import io.kvgate.models.util.TextTable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** Overhead of gated eviction vs the ungated run. */
@Command(name = "eviction", mixinStandardHelpOptions = true,
        description = "Overhead of gated eviction as a ratio to the ungated run of the same context (prefill and per decode step).")
public final class BenchEvictionCommand implements Runnable {
    @Mixin
    ModelOptions modelOptions;

    @Option(names = "--gates", paramLabel = "ARTIFACT", description = "Gate artifact directory (required for --policy gate).")
    Path gates;

    @Option(names = "--policy", defaultValue = "gate", description = "Policy to measure (default: ${DEFAULT-VALUE}; any eval policy works).")
    String policy;

    @Option(names = "--ratio", defaultValue = "0.3", description = "Share of KV kept in the evicting run (default: ${DEFAULT-VALUE}).")
    double ratio;

    @Option(names = "--context", split = ",", defaultValue = "512,1024,1536", description = "Context lengths in tokens (default: ${DEFAULT-VALUE}).")
    List<Integer> contexts;

    @Option(names = "--decode-steps", defaultValue = "256", description = "Decode steps timed per run (default: ${DEFAULT-VALUE}).")
    int decodeSteps;

    @Option(names = "--prefill-chunk", defaultValue = "512", description = "Prefill chunk in tokens (default: ${DEFAULT-VALUE}).")
    int prefillChunk;

    @Option(names = "--profile-prefill", description = "Also run an ungated, a scored (ratio 1) and an evicting prefill of the first context "
            + "under libtorch's profiler and print where their host time goes (JNI calls, time inside/outside libtorch, top ops), "
            + "the evicting prefill of every context by phase, and the three prefills' host time from stack samples (the scored "
            + "against the ungated by kvgate method, the evicting one by call site).")
    boolean profilePrefill;

    @Option(names = "--reps", defaultValue = "5", description = "Timed repetitions; the best of them is reported (default: ${DEFAULT-VALUE}).")
    int reps;

    @Override
    public void run() {
        EvictionSettings.checkRatio(ratio);
        if (reps < 1) throw new KvgateException("--reps must be >= 1, got " + reps);
        try (Model model = modelOptions.load()) {
            int limit = model.config().maxPositions();
            for (int n : contexts)
                if (n < 16 || n + decodeSteps + 1 > limit)
                    throw new KvgateException("--context " + n + ": needs 16 <= context and context + decode steps <= " + limit);
            if (policy.startsWith("gate") && gates == null) throw new KvgateException("--policy gate needs --gates ARTIFACT");
            if (policy.startsWith("kvzip")) throw new KvgateException("--policy kvzip: measure KVzip's cost with 'kvgate bench kvzip'");
            try (GateArtifact artifact = gates == null ? null : LayerGates.load(gates, model)) {
                measure(model, Policies.create(policy, new Policies.Options(artifact == null ? null : LayerGates.of(artifact.gates()), null, 1)));
            }
        }
    }

    private void measure(Model model, Policy p) {
        if (!p.evicts()) throw new KvgateException("--policy full has nothing to measure against itself");
        EvictionSettings settings = EvictionSettings.paper(ratio).withPrefillChunk(prefillChunk)
                .withProtection(Protection.paper());
        List<EvictionBenchmark.Row> rows = EvictionBenchmark.run(model, p, settings, contexts, decodeSteps, reps, 1);
        TextTable t = new TextTable("context", "prefill ms", p.name() + " scored", "ratio", p.name() + "@" + ratio,
                "ratio", "step ms", p.name() + " scored", "ratio", p.name() + "@" + ratio, "ratio", "start ms",
                "start @" + ratio, "KV kept",
                "peak MB full", "peak MB @" + ratio);
        for (EvictionBenchmark.Row r : rows) {
            t.row(r.context(), ms(r.prefillFull()), ms(r.prefillScored()), x(r.prefillScored() / r.prefillFull()),
                    ms(r.prefillEvict()), x(r.prefillEvict() / r.prefillFull()), ms(r.stepFull()), ms(r.stepScored()),
                    x(r.stepScored() / r.stepFull()), ms(r.stepEvict()), x(r.stepEvict() / r.stepFull()), ms(r.startFull()), ms(r.startEvict()),
                    String.format(Locale.ROOT, "%.2f", r.bytesEvict() / (double) r.bytesFull()), mb(r.peakFull()), mb(r.peakEvict()));
        }
        System.out.println("Eviction overhead vs the ungated run: " + modelOptions.model + " on " + model.device() + " ("
                + model.dtype() + "), policy " + p.name() + ", prefill chunk " + prefillChunk + ", " + decodeSteps
                + " decode steps, best of " + reps + " interleaved repetitions");
        System.out.println("'scored' = scores computed, nothing evicted (ratio 1); '@" + ratio + "' = scoring + eviction; 'step' = decode steps "
                + "after the second token; 'start' = a generation's query forward and first one-token step (graph capture, re-layout)");
        System.out.print(t);
        if (profilePrefill) {
            profilePrefills(model, p, settings);
            prefillPhases(model, p, settings);
            hostSamples(model, profiledRuns(p, settings), contextIds(model, contexts.get(0))); // last: sampling slows the code for a while after
        }
    }

    /** Where the evicting prefill's time goes, per context (each phase waits for the device: slower than the timed runs). */
    private void prefillPhases(Model model, Policy p, EvictionSettings settings) {
        TextTable t = new TextTable("context", "wall ms", "forward ms", "scores ms", "selection ms", "re-layout ms", "evictions");
        for (int n : contexts) {
            int[] ids = contextIds(model, n);
            io.kvgate.evaluator.runtime.PrefillPhases phases = new io.kvgate.evaluator.runtime.PrefillPhases(model);
            long t0 = System.nanoTime();
            try (CompressedContext cc = CompressedContext.prefill(model, p, settings, ids, phases)) {
                cc.prefillMillis();
            }
            t.row(n, ms((System.nanoTime() - t0) / 1e6), ms(phases.forwardMillis()), ms(phases.scoresMillis()),
                    ms(phases.selectMillis()), ms(phases.evictMillis()), phases.evictions());
        }
        System.out.println("Evicting prefill @" + ratio + " by phase (the device is awaited after each phase):");
        System.out.print(t);
    }

    /** The profiled prefills' context of {@code n} tokens (seeded: the same ids in every profile). */
    private static int[] contextIds(Model model, int n) {
        return new java.util.Random(1).ints(n, 0, Math.min(256, model.config().vocabSize())).toArray();
    }

    /** One of the profiled prefills: the ungated run, the scored run (ratio 1) or the evicting run. */
    private record ProfiledRun(String label, Policy policy, EvictionSettings settings) {}

    private List<ProfiledRun> profiledRuns(Policy p, EvictionSettings settings) {
        return List.of(new ProfiledRun(Policy.full().name(), Policy.full(), settings.withRatio(1)),
                new ProfiledRun(p.name(), p, settings.withRatio(1)), new ProfiledRun(p.name() + "@" + ratio, p, settings));
    }

    /** Runs {@code run}'s prefill of {@code ids} (closing its context included); returns the wall milliseconds. */
    private static double timedPrefill(Model model, ProfiledRun run, int[] ids) {
        long t0 = System.nanoTime();
        try (CompressedContext cc = CompressedContext.prefill(model, run.policy(), run.settings(), ids)) {
            cc.prefillMillis();
        }
        return (System.nanoTime() - t0) / 1e6;
    }

    /** An ungated, a scored and an evicting prefill of the first context under the profiler (warm: after the timed runs). */
    private void profilePrefills(Model model, Policy p, EvictionSettings settings) {
        int n = contexts.get(0);
        int[] ids = contextIds(model, n);
        TextTable t = new TextTable("prefill of " + n, "wall ms", "JNI calls", "host ms in libtorch", "host ms outside", "syncs");
        List<String> tops = new java.util.ArrayList<>();
        List<ProfiledRun> runs = profiledRuns(p, settings);
        for (ProfiledRun run : runs) {
            java.nio.file.Path trace;
            try {
                trace = java.nio.file.Files.createTempFile("kvgate-prefill", ".json");
                trace.toFile().deleteOnExit();
            } catch (java.io.IOException e) {
                throw new KvgateException("cannot create a trace file: " + e.getMessage());
            }
            ai.djl.pytorch.jni.JniUtils.startProfile(false, false, false);
            double wallMs = timedPrefill(model, run, ids);
            ai.djl.pytorch.jni.JniUtils.stopProfile(trace.toString());
            ProfilerTrace tr = ProfilerTrace.read(trace);
            t.row(run.label(), ms(wallMs), tr.topLevel().size(), ms(tr.hostMicros() / 1e3), ms(wallMs - tr.hostMicros() / 1e3), tr.syncCount());
            StringBuilder top = new StringBuilder(run.label() + ": ");
            List<java.util.Map.Entry<String, double[]>> byName = tr.byName();
            for (java.util.Map.Entry<String, double[]> e : byName.subList(0, Math.min(12, byName.size())))
                top.append(String.format(Locale.ROOT, "%s %.0f× %.2f ms; ", e.getKey(), e.getValue()[0], e.getValue()[1] / 1e3));
            tops.add(top.toString());
        }
        System.out.println("Prefill profile (libtorch profiler on; wall includes closing the context):");
        System.out.print(t);
        tops.forEach(System.out::println);
        gpuPrefills(model, runs, ids);
    }

    /**
     * The three prefills once more, each repeated for at least {@link #SAMPLED_MS} with its thread's stack sampled: the
     * scored run against the ungated one by kvgate method (where a gate's host time goes), then the evicting run's
     * call sites.
     */
    private static void hostSamples(Model model, List<ProfiledRun> runs, int[] ids) {
        List<Map<String, Integer>> byMethod = new java.util.ArrayList<>();
        double[] msPerSample = new double[runs.size()];
        String evicting = null;
        for (int r = 0; r < runs.size(); r++) {
            ProfiledRun run = runs.get(r);
            HostSampler sampler = HostSampler.start(1000); // each sample stops every Java thread briefly: 0.2 ms doubled a 32K prefill on the GPU machine
            double wallMs = 0;
            int reps = 0;
            while (reps < 1 || (wallMs < SAMPLED_MS && reps < 100)) {
                wallMs += timedPrefill(model, run, ids);
                reps++;
            }
            sampler.stop();
            int samples = sampler.samples();
            byMethod.add(sampler.byMethod());
            msPerSample[r] = wallMs / reps / Math.max(1, samples);
            if (r == runs.size() - 1)
                evicting = String.format(Locale.ROOT, "Host time of the %s prefill of %d by call site (%d stack samples over %d runs, %.1f ms each, asked for every 1 ms):%n%s",
                        run.label(), ids.length, samples, reps, wallMs / reps, sampler.tables(30));
        }
        System.out.printf(Locale.ROOT, "Host time of the %s and %s prefills of %d by kvgate method (stack samples every 1 ms over >= %d ms of runs; ms per run):%n",
                runs.get(0).label(), runs.get(1).label(), ids.length, (int) SAMPLED_MS);
        System.out.print(HostSampler.compare(runs.get(0).label(), byMethod.get(0), msPerSample[0], runs.get(1).label(), byMethod.get(1), msPerSample[1], 14));
        System.out.print(evicting);
    }

    /** Wall time each sampled prefill is repeated for: a 1K prefill is a few samples. */
    private static final double SAMPLED_MS = 500;

    /**
     * The same three prefills under kvgate's GPU trace (Kineto; a GPU with kvgate's operators only): the GPU's busy time
     * against the wall, and the scored run's kernels against the ungated run's, largest differences first.
     */
    private void gpuPrefills(Model model, List<ProfiledRun> runs, int[] ids) {
        List<GpuTrace.Summary> summaries = new java.util.ArrayList<>();
        TextTable t = new TextTable("prefill of " + ids.length, "wall ms", "GPU busy ms", "GPU span ms", "launches");
        for (ProfiledRun run : runs) {
            GpuTrace gpu = model.startGpuTrace();
            if (gpu == null) return;
            double wallMs = timedPrefill(model, run, ids);
            GpuTrace.Summary s = gpu.stop(null);
            summaries.add(s);
            t.row(run.label(), ms(wallMs), ms(s.busyNs() / 1e6), ms(s.spanNs() / 1e6), s.launches());
        }
        System.out.println("GPU time of the same prefills (kvgate's Kineto trace, one run each):");
        System.out.print(t);
        System.out.println("Scored against ungated, by kernel (largest differences first):");
        System.out.print(GpuTraceReport.compare(runs.get(0).label(), summaries.get(0), runs.get(1).label(), summaries.get(1), 14));
    }

    /** Peak allocated device memory (kvgate's CUDA-graph operators on a GPU; "-" elsewhere). */
    private static String mb(long bytes) {
        return bytes < 0 ? "-" : String.format(Locale.ROOT, "%.0f", bytes / 1e6);
    }

    private static String ms(double v) {
        return String.format(Locale.ROOT, "%.2f", v);
    }

    private static String x(double v) {
        return String.format(Locale.ROOT, "%.3fx", v);
    }
}
