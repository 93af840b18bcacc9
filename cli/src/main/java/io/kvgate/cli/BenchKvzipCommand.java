package io.kvgate.cli;

import ai.djl.ndarray.NDManager;
import io.kvgate.models.ForwardOptions;
import io.kvgate.models.KvCache;
import io.kvgate.models.KvgateException;
import io.kvgate.models.Model;
import io.kvgate.models.util.TextTable;
import io.kvgate.objectives.KvzipScorer;
import io.kvgate.objectives.RepeatPrompt;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.List;
import java.util.Random;

/** Cost of KVzip scoring as a ratio to the prefill of the same context, measured in one process. */
@Command(name = "kvzip", mixinStandardHelpOptions = true,
        description = "Cost of KVzip scoring (reconstruction pass) as a ratio to prefill of the same context.")
public final class BenchKvzipCommand implements Runnable {
    @Mixin
    ModelOptions modelOptions;

    @Option(names = "--context", split = ",", defaultValue = "256,512,1024",
            description = "Context lengths in tokens (default: ${DEFAULT-VALUE}).")
    List<Integer> contexts;

    @Option(names = "--chunk", defaultValue = "2000", description = "Scoring chunk size (default: ${DEFAULT-VALUE}).")
    int chunk;

    @Option(names = "--reps", defaultValue = "5", description = "Timed repetitions after a warm-up; medians are reported (default: ${DEFAULT-VALUE}).")
    int reps;

    @Override
    public void run() {
        if (reps < 1) throw new KvgateException("--reps must be at least 1, got " + reps);
        try (Model model = modelOptions.load()) {
            int vocab = model.config().vocabSize();
            Random random = new Random(1);
            // Random ids stand in for text: cost depends on lengths only. The repeat request is 8 ids.
            RepeatPrompt prompt = new RepeatPrompt(randomIds(random, 8, vocab), randomIds(random, 12, vocab),
                    randomIds(random, 3, vocab), new int[0]);
            KvzipScorer scorer = new KvzipScorer(prompt, chunk);
            TextTable table = new TextTable("context", "prefill ms", "kvzip ms", "kvzip / prefill", "chunks");
            for (int n : contexts) {
                int[] ids = randomIds(random, n, vocab);
                double[] prefill = new double[reps + 1];
                double[] scoring = new double[reps + 1];
                double[] ratio = new double[reps + 1];
                for (int r = 0; r <= reps; r++) { // r = 0 warms up
                    try (NDManager scope = model.manager().newSubManager(); KvCache cache = model.newCache()) {
                        long t0 = System.nanoTime();
                        model.forward(scope, cache, ids, ForwardOptions.defaults().withLogits(ForwardOptions.Logits.NONE));
                        long t1 = System.nanoTime();
                        scorer.score(model, cache, ids);
                        long t2 = System.nanoTime();
                        prefill[r] = (t1 - t0) / 1e6;
                        scoring[r] = (t2 - t1) / 1e6;
                        ratio[r] = scoring[r] / prefill[r];
                    }
                }
                // the ratio is the median of each repetition's own ratio: prefill and scoring run back to back,
                // so load from other processes on a shared machine weighs on both alike
                table.row(n, String.format("%.1f", median(prefill)), String.format("%.1f", median(scoring)),
                        String.format("%.2fx", median(ratio)),
                        (n + chunk - 1) / chunk);
            }
            System.out.println("KVzip scoring vs prefill, " + modelOptions.model + " on " + model.device()
                    + " (" + model.dtype() + "), medians of " + reps + " repetitions after a warm-up");
            System.out.print(table);
        }
    }

    private static int[] randomIds(Random r, int n, int vocab) {
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) ids[i] = r.nextInt(Math.min(vocab, 256));
        return ids;
    }

    /** The median of all but the first (warm-up) run. */
    private static double median(double[] xs) {
        return io.kvgate.models.util.Timings.median(java.util.Arrays.copyOfRange(xs, 1, xs.length));
    }
}
