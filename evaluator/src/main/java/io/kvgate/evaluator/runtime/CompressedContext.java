package io.kvgate.evaluator.runtime;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.kvgate.evaluator.policy.Policy;
import io.kvgate.evaluator.policy.ScoreSession;
import io.kvgate.evaluator.policy.SequenceInfo;
import io.kvgate.evaluator.policy.Stage;
import io.kvgate.models.ForwardObserver;
import io.kvgate.models.ForwardOptions;
import io.kvgate.models.ForwardResult;
import io.kvgate.models.KvCache;
import io.kvgate.models.KvgateException;
import io.kvgate.models.Model;
import io.kvgate.models.text.DecodeHook;
import io.kvgate.models.text.Generator;
import io.kvgate.models.text.SamplingConfig;

import java.util.Arrays;

/**
 * A context prefilled and compressed by a policy, query-agnostic (ALGORITHM.md §4–5): the context is fed in
 * chunks, each chunk's tokens are scored as the layers produce them, and after every chunk (or only after
 * the last, for scorers that need the whole context) the candidates older than the local window are cut to
 * the budget with {@link KvCache#retain}, so memory is really freed. Queries are then answered on copies of
 * the compressed cache, so several queries can share one context.
 */
public final class CompressedContext implements AutoCloseable {
    private final Model model;
    private final Policy policy;
    private final EvictionSettings settings;
    private final SequenceInfo sequence;
    private final KvCache cache;
    private final ScoreSession session;
    private final Evictor evictor;
    private final long bytesBeforeEviction;
    private final double prefillMillis;

    private CompressedContext(Model model, Policy policy, EvictionSettings settings, int[] contextIds, PrefillPhases phases) {
        this.model = model;
        this.policy = policy;
        this.settings = settings;
        int limit = model.config().maxPositions();
        if (contextIds.length == 0) throw new KvgateException("empty context");
        if (contextIds.length >= limit)
            throw new KvgateException("context of " + contextIds.length + " tokens exceeds the model's limit of " + limit + " positions");
        KvCache c = model.newCache();
        ScoreSession s = null;
        try {
            sequence = new SequenceInfo(model, contextIds.clone(), c.nextPosition());
            s = policy.evicts() ? policy.scorer().start(sequence) : null;
            evictor = new Evictor(policy.budget(), settings.protection(), sequence.contextStart(), model.config().gatedLayers());
            long t0 = System.nanoTime();
            int n = contextIds.length;
            int window = settings.protection().windowFor(n);
            long before = 0;
            for (int from = 0; from < n; from += settings.prefillChunk()) {
                int to = Math.min(n, from + settings.prefillChunk());
                feed(model, c, Arrays.copyOfRange(contextIds, from, to), s == null ? null : s.observer(c));
                phases.forwardDone();
                boolean last = to == n;
                if (last) before = c.bytes();
                double budget = settings.ratio() * to;
                // scorers that score as they go need not be asked while nothing would be evicted (ratio 1, early chunks)
                if (s != null && (s.scoresPartialContext() ? !evictor.fits(c, budget) : last)) {
                    float[][][] scores = s.scores(c, last ? Stage.CONTEXT_DONE : Stage.PREFILL_CHUNK);
                    phases.scoresDone();
                    int[][][] keep = evictor.select(c, scores, budget, window);
                    phases.selectionDone();
                    evictor.apply(c, keep, last ? 0 : Math.min(n, to + settings.prefillChunk()) - to);
                    phases.evictionDone();
                }
            }
            if (s != null) s.contextDone(c);
            model.awaitDevice(); // the queued work is part of the prefill (a scorer's host read would otherwise pay for it alone)
            prefillMillis = (System.nanoTime() - t0) / 1e6;
            bytesBeforeEviction = before;
            cache = c;
            session = s;
        } catch (RuntimeException e) {
            if (s != null) s.close();
            c.close();
            throw e;
        }
    }

    /** Prefills {@code contextIds} into a fresh cache and compresses it with {@code policy}. */
    public static CompressedContext prefill(Model model, Policy policy, EvictionSettings settings, int[] contextIds) {
        return new CompressedContext(model, policy, settings, contextIds, PrefillPhases.NONE);
    }

    /** As {@link #prefill}, timing the phases (forward, scores, eviction) into {@code phases}; slower (it syncs per phase). */
    public static CompressedContext prefill(Model model, Policy policy, EvictionSettings settings, int[] contextIds, PrefillPhases phases) {
        return new CompressedContext(model, policy, settings, contextIds, phases);
    }

    public KvCache cache() {
        return cache;
    }

    public Policy policy() {
        return policy;
    }

    public int contextTokens() {
        return sequence.contextIds().length;
    }

    /** KV bytes held once the context is compressed (measured). */
    public long bytes() {
        return cache.bytes();
    }

    /** KV bytes measured after the last prefill chunk, before its eviction (the full cache when unchunked). */
    public long bytesBeforeEviction() {
        return bytesBeforeEviction;
    }

    /** Entries per evictable (layer, head), on average. */
    public double entriesPerHead() {
        return evictor.entries(cache) / (double) evictor.heads(cache);
    }

    /** Wall time of the chunked prefill, scoring and eviction. */
    public double prefillMillis() {
        return prefillMillis;
    }

    /**
     * Log-probabilities of the next token at every position of {@code ids} fed after the compressed context,
     * teacher-forced, without changing the cache: [ids.length][vocab].
     */
    public float[][] teacherForcedLogProbs(int[] ids) {
        try (NDManager scope = model.manager().newSubManager()) {
            ForwardOptions options = ForwardOptions.defaults().withExtendCache(false).withLogits(ForwardOptions.Logits.ALL);
            ForwardResult r = model.forward(scope, cache, ids, options);
            NDArray logProbs = r.logits().toType(ai.djl.ndarray.types.DataType.FLOAT32, false).logSoftmax(1);
            float[] flat = logProbs.toFloatArray();
            int vocab = flat.length / ids.length;
            float[][] out = new float[ids.length][];
            for (int t = 0; t < ids.length; t++) out[t] = Arrays.copyOfRange(flat, t * vocab, (t + 1) * vocab);
            return out;
        }
    }

    /**
     * Appends {@code queryIds} and decodes greedily up to {@code maxNewTokens} (stopping at the model's EOS),
     * on a copy of the compressed cache. While decoding, every {@code decodeInterval} appended tokens the new
     * tokens are scored once and, when the cache holds more than B entries per head on average, the lowest
     * scores are evicted globally; the first tokens, the {@code decodeRecent} latest and (by default) the query
     * itself are protected.
     */
    public Generation generate(int[] queryIds, int maxNewTokens) {
        if (queryIds.length == 0) throw new KvgateException("empty query");
        int total = sequence.contextEnd() + queryIds.length + maxNewTokens;
        int limit = model.config().maxPositions();
        if (total > limit)
            throw new KvgateException("context + query + answer need " + total + " positions, more than the model's " + limit);
        double budget = settings.decodeEntriesPerHead(contextTokens());
        try (KvCache work = cache.subset(p -> true)) {
            if (session != null) session.rewindToContext();
            DecodeEviction hook = new DecodeEviction(work, budget, sequence.contextEnd(), queryIds.length);
            long t0 = System.nanoTime();
            int[] ids = new Generator().generate(model, work, queryIds, SamplingConfig.greedy(maxNewTokens), hook, null);
            double millis = (System.nanoTime() - t0) / 1e6;
            double startMillis = hook.thirdStep == 0 ? Double.NaN : (hook.thirdStep - t0) / 1e6;
            return new Generation(ids, hook.peak, budget, hook.evictions, millis, startMillis, work.bytes());
        }
    }

    /**
     * Decode-time eviction (ALGORITHM.md §4): counts the tokens appended after the context; every
     * {@code decodeInterval} of them it has the new tokens scored once and, when the cache holds more than
     * B entries per head on average, reads the scores and evicts the lowest globally.
     */
    private final class DecodeEviction implements DecodeHook {
        private final KvCache work;
        private final double budget;
        private final int queryFrom, queryTo, queryLength;
        private final ForwardObserver observer;
        private int sinceCheck;
        private int evictions;
        private double peak;
        private int steps;
        private long thirdStep; // nanoTime at the third step's callback: tokens 1 and 2 have been read back by then

        DecodeEviction(KvCache work, double budget, int queryFrom, int queryLength) {
            this.work = work;
            this.budget = budget;
            this.queryFrom = queryFrom;
            this.queryLength = queryLength;
            this.queryTo = settings.protectQuery() ? queryFrom + queryLength : queryFrom;
            this.observer = session == null ? null : session.observer(work);
        }

        @Override
        public ForwardObserver observer() {
            return observer;
        }

        @Override
        public void afterStep(KvCache cache, int[] generatedSoFar) {
            if (++steps == 3) thirdStep = System.nanoTime();
            sinceCheck += generatedSoFar.length == 0 ? queryLength : 1; // the query, then one token per step
            double perHead = evictor.entries(cache) / (double) evictor.heads(cache);
            peak = Math.max(peak, perHead); // before any eviction
            if (session == null || sinceCheck < settings.decodeInterval()) return;
            sinceCheck = 0;
            // the buffered tokens are scored once either way; scores come back to the host only for an eviction
            if (perHead <= budget) {
                session.scoreBuffered();
                return;
            }
            float[][][] scores = session.scores(cache, Stage.DECODE);
            // room 0: the next step's append grows the segments by an eighth (KV bytes as reported), not by a whole interval
            evictor.evict(cache, scores, budget, settings.decodeRecent(), queryFrom, queryTo, 0);
            evictions++;
        }
    }

    /** Feeds context ids into the cache (no logits needed). */
    private static void feed(Model model, KvCache cache, int[] ids, ForwardObserver observer) {
        try (NDManager scope = model.manager().newSubManager()) {
            model.forward(scope, cache, ids, ForwardOptions.defaults().withObserver(observer).withLogits(ForwardOptions.Logits.NONE));
        }
    }

    @Override
    public void close() {
        if (session != null) session.close();
        cache.close();
    }
}
