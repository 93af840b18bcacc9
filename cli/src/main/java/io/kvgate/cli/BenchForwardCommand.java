package io.kvgate.cli;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.kvgate.models.Checkpoint;
import io.kvgate.models.ForwardOptions;
import io.kvgate.models.KvCache;
import io.kvgate.models.KvgateException;
import io.kvgate.models.Model;
import io.kvgate.models.util.TextTable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/** Prefill and decode tokens/s and peak memory. */
@Command(name = "forward", mixinStandardHelpOptions = true,
        description = "Prefill and decode tokens/s, KV bytes and peak memory per context length, with ratios against "
                + "same-process baselines: one-pass prefill, and decoding by full recomputation without a cache.")
public final class BenchForwardCommand implements Runnable {
    @Mixin
    ModelOptions modelOptions;

    @Option(names = "--context", split = ",", paramLabel = "N", defaultValue = "128,512",
            description = "Context lengths to prefill (default: ${DEFAULT-VALUE}).")
    List<Integer> contexts;

    @Option(names = "--decode", paramLabel = "N", defaultValue = "32", description = "Tokens decoded after each prefill (default: ${DEFAULT-VALUE}).")
    int decode;

    @Option(names = "--chunk", paramLabel = "N", defaultValue = "128",
            description = "Prefill chunk size of the cached path (default: ${DEFAULT-VALUE}).")
    int chunk;

    @Option(names = "--baseline-decode", paramLabel = "N", defaultValue = "8",
            description = "Steps timed for the recompute baseline (it is O(n) per token; default: ${DEFAULT-VALUE}).")
    int baselineDecode;

    @Override
    public void run() {
        if (decode <= 0 || chunk <= 0 || baselineDecode <= 0)
            throw new KvgateException("--decode, --chunk and --baseline-decode must be positive");
        try (Checkpoint ck = modelOptions.openCheckpoint(); Model m = Model.load(ck, modelOptions.device(), modelOptions.dataType())) {
            int vocab = m.config().vocabSize();
            for (int n : contexts) {
                if (n <= 0 || n + decode > m.config().maxPositions())
                    throw new KvgateException("--context " + n + ": must be in 1.." + (m.config().maxPositions() - decode)
                            + " (max_position_embeddings " + m.config().maxPositions() + " minus --decode " + decode + ")");
            }
            measure(m, synthetic(32, vocab), 4, Math.min(chunk, 16)); // warm-up: JIT, allocator, kernels

            TextTable table = new TextTable("context", "prefill tok/s", "one-pass tok/s", "ratio", "decode tok/s",
                    "recompute tok/s", "speedup", "greedy equal", "KV bytes", "peak heap MiB", "peak RSS MiB");
            for (int n : contexts) {
                resetPeaks();
                int[] prompt = synthetic(n, vocab);
                Run cached = measure(m, prompt, decode, chunk);
                double onePass = measure(m, prompt, 0, n).prefillTokS;
                Recompute base = recompute(m, prompt, cached.generated, Math.min(baselineDecode, decode));
                table.row(n, fmt(cached.prefillTokS), fmt(onePass), ratio(cached.prefillTokS / onePass),
                        fmt(cached.decodeTokS), fmt(base.tokS), ratio(cached.decodeTokS / base.tokS),
                        base.agree ? "yes" : "NO", cached.kvBytes, mib(peakHeap()), mib(peakRssBytes()));
            }
            System.out.printf("kvgate bench forward: %s (%s, %d layers, hidden %d), device %s, %s, libtorch threads %s, prefill chunk %d, %d decode steps%n",
                    modelOptions.model, m.config().family().name().toLowerCase(Locale.ROOT), m.config().numLayers(), m.config().hiddenSize(),
                    m.device(), m.dtype(), System.getProperty("ai.djl.pytorch.num_threads", "default"), chunk, decode);
            System.out.print(table);
            System.out.println("ratio = chunked prefill / one-pass prefill; speedup = cached decode / recompute-everything decode "
                    + "(baseline timed over " + Math.min(baselineDecode, decode) + " steps); peaks per row (heap: JVM pools, RSS: VmHWM)");
        }
    }

    private record Run(double prefillTokS, double decodeTokS, long kvBytes, int[] generated) {}

    private record Recompute(double tokS, boolean agree) {}

    /** Chunked prefill then greedy decoding through the cache. */
    private static Run measure(Model m, int[] prompt, int decode, int chunk) {
        try (KvCache cache = m.newCache()) {
            long t0 = System.nanoTime();
            int next;
            try (NDManager s = m.manager().newSubManager()) {
                next = argmax(m.forward(s, cache, prompt, ForwardOptions.defaults(), chunk).logits());
            }
            long t1 = System.nanoTime();
            int[] generated = new int[decode];
            for (int i = 0; i < decode; i++) {
                generated[i] = next;
                try (NDManager s = m.manager().newSubManager()) {
                    next = argmax(m.forward(s, cache, new int[] {next}, ForwardOptions.defaults()).logits());
                }
            }
            long t2 = System.nanoTime();
            return new Run(prompt.length / sec(t1 - t0), decode == 0 ? 0 : decode / sec(t2 - t1), cache.bytes(), generated);
        }
    }

    /** The no-cache baseline: every new token recomputes the whole sequence; checks it picks the same greedy tokens. */
    private static Recompute recompute(Model m, int[] prompt, int[] generated, int steps) {
        boolean agree = true;
        long t0 = System.nanoTime();
        for (int i = 0; i < steps; i++) {
            int[] seq = Arrays.copyOf(prompt, prompt.length + i + 1);
            System.arraycopy(generated, 0, seq, prompt.length, i + 1);
            try (KvCache cache = m.newCache(); NDManager s = m.manager().newSubManager()) {
                int next = argmax(m.forward(s, cache, seq, ForwardOptions.defaults(), seq.length).logits());
                if (i + 1 < generated.length) agree &= next == generated[i + 1];
            }
        }
        return new Recompute(steps / sec(System.nanoTime() - t0), agree);
    }

    private static int argmax(NDArray logits) {
        return (int) logits.argMax(-1).toLongArray()[0];
    }

    /** Deterministic ids spread over the vocabulary (content does not matter for speed). */
    static int[] synthetic(int n, int vocab) {
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) ids[i] = (int) ((i * 2654435761L + 17) % vocab);
        return ids;
    }

    private static double sec(long nanos) {
        return nanos / 1e9;
    }

    private static String fmt(double tokS) {
        return String.format(Locale.ROOT, "%.1f", tokS);
    }

    private static String ratio(double r) {
        return String.format(Locale.ROOT, "%.2fx", r);
    }

    private static String mib(long bytes) {
        return bytes < 0 ? "n/a" : String.format(Locale.ROOT, "%.1f", bytes / 1048576.0);
    }

    private static void resetPeaks() {
        for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) p.resetPeakUsage();
        try {
            Files.writeString(Path.of("/proc/self/clear_refs"), "5"); // resets VmHWM to the current RSS (Linux)
        } catch (IOException | RuntimeException ignored) {
            // not Linux or not permitted: the RSS peak is then the process's peak so far
        }
    }

    private static long peakHeap() {
        long sum = 0;
        for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans())
            if (p.getType() == MemoryType.HEAP) sum += p.getPeakUsage().getUsed();
        return sum;
    }

    /** Peak resident set (JVM + libtorch native memory) from /proc/self/status, -1 where unavailable. */
    static long peakRssBytes() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status")))
                if (line.startsWith("VmHWM:")) return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
        } catch (IOException | RuntimeException ignored) {
            // not Linux
        }
        return -1;
    }
}
