package io.kvgate.evaluator;

import io.kvgate.evaluator.policy.Policy;
import io.kvgate.evaluator.policy.Protection;
import io.kvgate.evaluator.runtime.CompressedContext;
import io.kvgate.evaluator.runtime.EvictionSettings;
import io.kvgate.evaluator.runtime.Generation;
import io.kvgate.evaluator.tasks.Task;
import io.kvgate.models.KvgateException;
import io.kvgate.models.Model;
import io.kvgate.models.util.Progress;
import io.kvgate.objectives.KvzipScorer;
import io.kvgate.objectives.RepeatPrompt;
import io.kvgate.objectives.RepeatPrompts;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static io.kvgate.models.util.IntArrays.concat;

/**
 * Runs tasks under policies and ratios, query-agnostic: each distinct context is prefilled and compressed
 * once per (policy, ratio), then every query on it is answered greedily on a copy of the compressed cache.
 * The full cache is always run too, as the reference for the KL fidelity and the memory fraction.
 *
 * <pre>
 * EvalResults r = Evaluation.on(model, codec)
 *         .policies(Policies.parse("full,kvzip,gate", new Policies.Options(gates, Evaluation.tinyKvzip(codec), 1)))
 *         .ratios(List.of(0.3))
 *         .run(tasks);
 * </pre>
 */
public final class Evaluation {
    /** Tokens generated beyond the answer's length before giving up. */
    public static final int EXTRA_TOKENS = 8;

    private final Model model;
    private final TextCodec codec;
    private List<Policy> policies = List.of(Policy.full());
    private List<Double> ratios = List.of(0.3);
    private EvictionSettings settings = EvictionSettings.paper(1);
    private EvalResults.Setup setup;
    private EvalJournal journal = EvalJournal.none();

    private Evaluation(Model model, TextCodec codec) {
        this.model = model;
        this.codec = codec;
    }

    public static Evaluation on(Model model, TextCodec codec) {
        return new Evaluation(model, codec);
    }

    /**
     * The KVzip oracle for contexts in the tiny model's format: the trained request
     * "\nRepeat the previous context:\n" after {@code <|im_end|>}, the wrapper tokens not repeated, in chunks of
     * {@link RepeatPrompts#TINY_MODEL_CHUNK}.
     */
    public static KvzipScorer tinyKvzip(TextCodec codec) {
        List<Integer> wrappers = new ArrayList<>();
        for (String special : List.of("<|im_start|>", "<|im_end|>")) {
            int[] ids = codec.encode(special);
            if (ids.length == 1) wrappers.add(ids[0]);
        }
        RepeatPrompt prompt = RepeatPrompt.plain(codec::encode, RepeatPrompt.TINY_MODEL_REQUEST,
                wrappers.stream().mapToInt(Integer::intValue).toArray());
        return new KvzipScorer(prompt, RepeatPrompts.TINY_MODEL_CHUNK);
    }

    public Evaluation policies(List<Policy> p) {
        if (p.isEmpty()) throw new KvgateException("no policy to evaluate");
        this.policies = List.copyOf(p);
        return this;
    }

    public Evaluation ratios(List<Double> r) {
        if (r.isEmpty()) throw new KvgateException("no ratio to evaluate");
        r.forEach(EvictionSettings::checkRatio);
        this.ratios = List.copyOf(r);
        return this;
    }

    /** Protection, chunking and decoding settings; the ratio in it is replaced by each evaluated ratio. */
    public Evaluation settings(EvictionSettings s) {
        this.settings = s;
        return this;
    }

    /** Describes the run in the report (model path, gates artifact...). */
    public Evaluation setup(EvalResults.Setup s) {
        this.setup = s;
        return this;
    }

    /**
     * Records every finished unit (context × policy × ratio) in {@code file} and skips the units it already
     * holds, so an interrupted evaluation resumes; {@link #finish} removes it once the results are written.
     */
    public Evaluation resumable(Path file) {
        this.journal = EvalJournal.open(file);
        return this;
    }

    /** Units found finished in the resume journal when it was opened. */
    public int resumedUnits() {
        return journal.size();
    }

    /** The results are safely written: the resume journal is no longer needed. */
    public void finish() {
        journal.delete();
    }

    /** An encoded task, or why it cannot run. */
    private record Prepared(Task task, int[] query, int[] answer) {}

    public EvalResults run(List<Task> tasks) {
        long t0 = System.nanoTime();
        List<String> problems = new ArrayList<>();
        Map<String, int[]> contexts = new LinkedHashMap<>();
        Map<String, List<Prepared>> byContext = new LinkedHashMap<>();
        int limit = model.config().maxPositions();
        for (Task t : tasks) {
            int[] ctx = contexts.computeIfAbsent(t.context(), codec::encode);
            int[] q = codec.encode(t.query());
            int[] a = codec.encode(t.answer());
            int need = ctx.length + q.length + a.length + EXTRA_TOKENS;
            if (need > limit) {
                problems.add(where(t) + ": context of " + ctx.length + " tokens + query and answer need " + need
                        + " positions, more than the model's limit of " + limit + " (task skipped)");
                continue;
            }
            byContext.computeIfAbsent(t.context(), k -> new ArrayList<>()).add(new Prepared(t, q, a));
        }
        if (byContext.isEmpty()) throw new KvgateException("no task fits the model: " + problems.get(0));
        int items = byContext.values().stream().mapToInt(List::size).sum();

        List<Policy> evicting = policies.stream().filter(Policy::evicts).toList();
        boolean reportFull = policies.stream().anyMatch(p -> !p.evicts());
        List<ItemResult> results = new ArrayList<>();
        String fingerprint = model.checkpoint().fingerprint();
        try (Progress progress = Progress.start("eval", (long) items * (1 + evicting.size() * ratios.size()), "answers")) {
            for (Map.Entry<String, List<Prepared>> group : byContext.entrySet()) {
                int[] ctx = contexts.get(group.getKey());
                List<Prepared> queries = group.getValue();
                StringBuilder qs = new StringBuilder();
                for (Prepared p : queries) qs.append(p.task.id()).append('\u0001').append(p.task.query()).append('\u0001').append(p.task.answer()).append('\u0002');
                String fullKey = EvalJournal.key(fingerprint, settings.withRatio(1).toString(), "full", group.getKey(), qs.toString());
                List<ItemResult> fullDone = reportFull ? journal.done(fullKey) : List.of();
                Map<String, double[]> pendingUnits = new LinkedHashMap<>();
                for (Policy policy : evicting)
                    for (double ratio : ratios) {
                        String key = EvalJournal.key(fingerprint, settings.withRatio(ratio).toString(), policy.toString(), group.getKey(), qs.toString());
                        List<ItemResult> done = journal.done(key);
                        if (done != null) {
                            results.addAll(done);
                            progress.step(queries.size());
                        } else {
                            pendingUnits.put(key, new double[] {evicting.indexOf(policy), ratio});
                        }
                    }
                if (fullDone != null) {
                    for (ItemResult r : fullDone) for (double ratio : ratios) results.add(withRatio(r, ratio));
                    progress.step(queries.size());
                    if (pendingUnits.isEmpty()) continue;
                }
                // The full cache: reference distributions, reference bytes, and the "full" rows.
                List<float[][]> reference = new ArrayList<>();
                long fullBytes;
                try (CompressedContext full = CompressedContext.prefill(model, Policy.full(), settings.withRatio(1), ctx)) {
                    fullBytes = full.bytes();
                    List<ItemResult> fullItems = new ArrayList<>();
                    for (Prepared p : queries) {
                        reference.add(full.teacherForcedLogProbs(concat(p.query, p.answer)));
                        if (reportFull && fullDone == null) {
                            fullItems.add(answer(full, p, reference.get(reference.size() - 1), fullBytes, "full", 1.0));
                            progress.step(1);
                        }
                    }
                    if (reportFull && fullDone == null) {
                        journal.record(fullKey, fullItems);
                        for (ItemResult r : fullItems) for (double ratio : ratios) results.add(withRatio(r, ratio));
                    }
                }
                for (Map.Entry<String, double[]> unit : pendingUnits.entrySet()) {
                    Policy policy = evicting.get((int) unit.getValue()[0]);
                    double ratio = unit.getValue()[1];
                    List<ItemResult> unitItems = new ArrayList<>();
                    try (CompressedContext cc = CompressedContext.prefill(model, policy, settings.withRatio(ratio), ctx)) {
                        for (int i = 0; i < queries.size(); i++) {
                            unitItems.add(answer(cc, queries.get(i), reference.get(i), fullBytes, policy.name(), ratio));
                            progress.step(1);
                        }
                    }
                    journal.record(unit.getKey(), unitItems);
                    results.addAll(unitItems);
                }
            }
        }
        List<ResultRow> rows = aggregate(results);
        EvalResults.Setup s = setup != null ? setup : new EvalResults.Setup(model.checkpoint().dir().toString(),
                model.checkpoint().fingerprint(), null, policies.stream().map(Policy::name).toList(), ratios,
                String.join(", ", policies.stream().filter(Policy::evicts).map(p -> p.budget().id()).distinct().toList()),
                describeWindow(settings.protection()), settings.prefillChunk(), 0);
        long seconds = Math.round((System.nanoTime() - t0) / 1e9);
        s = new EvalResults.Setup(s.model(), s.fingerprint(), s.gates(), s.policies(), s.ratios(), s.budget(), s.window(), s.prefillChunk(), seconds);
        return new EvalResults(rows, results, problems, s);
    }

    private ItemResult answer(CompressedContext cc, Prepared p, float[][] reference, long fullBytes, String policy, double ratio) {
        double kl = Metrics.klDivergence(reference, cc.teacherForcedLogProbs(concat(p.query, p.answer)));
        Generation g = cc.generate(p.query, p.answer.length + EXTRA_TOKENS);
        String out = codec.decode(g.ids());
        return new ItemResult(p.task.id(), p.task.task(), policy, ratio, Metrics.exactPrefix(out, p.task.answer()),
                Metrics.charMatch(out, p.task.answer()), kl, cc.bytes(), fullBytes, cc.prefillMillis(),
                g.millisPerToken(), out);
    }

    private static ItemResult withRatio(ItemResult r, double ratio) {
        return new ItemResult(r.id(), r.task(), r.policy(), ratio, r.solved(), r.charMatch(), r.kl(), r.kvBytes(),
                r.kvBytesFull(), r.prefillMillis(), r.decodeMillisPerToken(), r.output());
    }

    /** One row per task kind × policy × ratio, in the order first met. */
    static List<ResultRow> aggregate(List<ItemResult> items) {
        Map<String, List<ItemResult>> groups = new LinkedHashMap<>();
        for (ItemResult r : items) groups.computeIfAbsent(r.task() + "\u0000" + r.policy() + "\u0000" + r.ratio(), k -> new ArrayList<>()).add(r);
        List<ResultRow> rows = new ArrayList<>();
        for (List<ItemResult> g : groups.values()) {
            ItemResult first = g.get(0);
            rows.add(ResultRow.of(first.task(), first.policy(), first.ratio(), g));
        }
        rows.sort((a, b) -> {
            int c = a.task().compareTo(b.task());
            if (c != 0) return c;
            c = a.policy().compareTo(b.policy());
            return c != 0 ? c : Double.compare(a.ratio(), b.ratio());
        });
        return rows;
    }

    static String describeWindow(Protection p) {
        String w = p.windowTokens() >= 0 ? p.windowTokens() + " tokens" : Math.round(p.windowFraction() * 100) + "% of the context (" + p.maxWindow() + " from 16K)";
        return p.sinkTokens() + " sinks, system prefix " + p.systemPrefix() + ", window " + w;
    }

    private static String where(Task t) {
        return t.line() > 0 ? "line " + t.line() + " (" + t.id() + ")" : t.id();
    }
}
