package io.kvgate.objectives;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.kvgate.models.Checkpoint;
import io.kvgate.models.ForwardOptions;
import io.kvgate.models.KvCache;
import io.kvgate.models.Model;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** KVzip targets on the tiny retrieval model mean something: the needle outranks the filler. */
class KvzipNeedleTest {
    static final int IM_START = 257, IM_END = 258;
    /** The classic passkey filler: redundant prose, so only the needle is unique in the context. */
    static final String FILLER = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. ";

    static Model model;

    @BeforeAll
    static void load() {
        model = Model.load(Checkpoint.open(Path.of("../checkpoints/tiny-retrieval-qwen3")), Device.cpu(), DataType.FLOAT32);
    }

    @AfterAll
    static void close() {
        model.close();
    }

    static int[] bytes(String s) {
        byte[] b = s.getBytes(StandardCharsets.US_ASCII);
        int[] ids = new int[b.length];
        for (int i = 0; i < b.length; i++) ids[i] = b[i] & 0xff;
        return ids;
    }

    static RepeatPrompt tinyPrompt() {
        return RepeatPrompt.plain(KvzipNeedleTest::bytes, RepeatPrompt.TINY_MODEL_REQUEST, IM_START, IM_END);
    }

    /** A passkey context (TASKS.md format) with the key's digit positions marked. */
    record Passkey(int[] ids, boolean[] needle) {}

    static Passkey passkey(Random r) {
        String key = String.valueOf(10000 + r.nextInt(90000));
        int fillerLen = 100 + r.nextInt(500);
        int start = r.nextInt(FILLER.length());
        String filler = FILLER.repeat(2 + 600 / FILLER.length()).substring(start, start + fillerLen);
        int cut = r.nextInt(fillerLen);
        String before = filler.substring(0, cut);
        String needleText = "\nThe pass key is " + key + ". Remember it. " + key + " is the pass key.\n";
        String text = before + needleText + filler.substring(cut);
        int[] body = bytes(text);
        int[] ids = new int[body.length + 2];
        ids[0] = IM_START;
        System.arraycopy(body, 0, ids, 1, body.length);
        ids[ids.length - 1] = IM_END;
        boolean[] needle = new boolean[ids.length];
        int first = 1 + before.length() + "\nThe pass key is ".length();
        int second = first + (key + ". Remember it. ").length();
        for (int i = 0; i < 5; i++) needle[first + i] = needle[second + i] = true;
        return new Passkey(ids, needle);
    }

    /**
     * Per KV head: how often the needle's digits land in the head's top decile, vs filler tokens. Sinks
     * and the last {@code WINDOW} tokens (always kept by every policy) are left out of the ranking. KVzip
     * scores are head-specific: the copy heads spread their attention over everything they reproduce, while
     * the heads that read the needle rank its digits on top — those heads are what the test asserts on.
     */
    @Test
    void needleDigitsRankInTopDecileOfTheirHeadsFarMoreOftenThanFiller() {
        final int window = 16, docs = 10;
        KvzipScorer scorer = new KvzipScorer(tinyPrompt(), 2000);
        Random r = new Random(7);
        int layers = model.config().numLayers(), heads = model.config().numKvHeads();
        long[][] needleTop = new long[layers][heads], needleAll = new long[layers][heads];
        long[][] fillerTop = new long[layers][heads], fillerAll = new long[layers][heads];
        for (int doc = 0; doc < docs; doc++) {
            Passkey p = passkey(r);
            try (NDManager scope = model.manager().newSubManager(); KvCache cache = model.newCache()) {
                model.forward(scope, cache, p.ids(), ForwardOptions.defaults().withLogits(ForwardOptions.Logits.NONE));
                KvzipScores s = scorer.score(model, cache, p.ids());
                for (int l : s.scoredLayers()) {
                    for (int h = 0; h < heads; h++) {
                        float[] head = s.scores()[l][h];
                        assertEquals(p.ids().length, head.length);
                        int from = 4, to = head.length - window;
                        float[] candidates = Arrays.copyOfRange(head, from, to);
                        Arrays.sort(candidates);
                        float decile = candidates[(int) (candidates.length * 0.9)];
                        for (int i = from; i < to; i++) {
                            assertTrue(head[i] >= 0 && head[i] <= 1, "score out of [0,1]");
                            boolean top = head[i] >= decile;
                            if (p.needle()[i]) { needleAll[l][h]++; if (top) needleTop[l][h]++; }
                            else { fillerAll[l][h]++; if (top) fillerTop[l][h]++; }
                        }
                    }
                }
            }
        }
        int readers = 0;
        for (int l = 0; l < layers; l++) {
            for (int h = 0; h < heads; h++) {
                double needle = needleTop[l][h] / (double) needleAll[l][h], filler = fillerTop[l][h] / (double) fillerAll[l][h];
                System.out.printf("layer %d head %d: needle digits in top decile %.2f, filler %.2f%n", l, h, needle, filler);
                if (needle >= 0.5 && needle >= 4 * filler) readers++;
            }
        }
        assertTrue(readers >= 1, "no head ranks the needle's digits in its top decile far more often than filler");
    }

    /**
     * Key-value contexts (TASKS.md format): the first digit of each value, which a query's answer starts from,
     * survives a 30 % budget in the head that reads the values. The reconstruction hardly attends it (its row cannot
     * tell which value comes next, docs/EVALUATION.md), so the raw score loses some; the successor-pooled score
     * must keep (nearly) all. The raw score's figure is printed for comparison.
     */
    @Test
    void firstDigitOfEachValueSurvivesThirtyPercentInTheHeadThatReadsTheValues() {
        Random r = new Random(5);
        KvzipScorer raw = new KvzipScorer(tinyPrompt(), 2000), pooled = raw.withSuccessorPooling(true);
        int pairs = 0, pooledKept = 0, rawKept = 0;
        for (int doc = 0; doc < 6; doc++) {
            StringBuilder text = new StringBuilder();
            java.util.List<Integer> firstDigits = new java.util.ArrayList<>();
            for (int k = 0; k < 4 + r.nextInt(9); k++) {
                for (int c = 0; c < 4 + r.nextInt(4); c++) text.append((char) ('a' + r.nextInt(26)));
                text.append(": ");
                firstDigits.add(1 + text.length()); // +1: <|im_start|>
                for (int c = 0; c < 6; c++) text.append((char) ('0' + r.nextInt(10)));
                text.append('\n');
                if (r.nextBoolean()) {
                    int at = r.nextInt(FILLER.length() - 50);
                    text.append(FILLER, at, at + 10 + r.nextInt(41)).append('\n');
                }
            }
            int[] body = bytes(text.toString());
            int[] ids = new int[body.length + 2];
            ids[0] = IM_START;
            System.arraycopy(body, 0, ids, 1, body.length);
            ids[ids.length - 1] = IM_END;
            try (NDManager scope = model.manager().newSubManager(); KvCache cache = model.newCache()) {
                model.forward(scope, cache, ids, ForwardOptions.defaults().withLogits(ForwardOptions.Logits.NONE));
                KvzipScores p = pooled.score(model, cache, ids), q = raw.score(model, cache, ids);
                for (int first : firstDigits) {
                    pairs++;
                    if (survives(p, first)) pooledKept++;
                    if (survives(q, first)) rawKept++;
                }
            }
        }
        System.out.printf("first value digit kept at 30 %% in its value head: pooled %d / %d, raw %d / %d%n", pooledKept, pairs, rawKept, pairs);
        // measured: pooled 40 / 40, raw 36 / 40
        assertTrue(pooledKept >= 0.95 * pairs, "first value digit kept in " + pooledKept + " of " + pairs + " pairs");
    }

    /**
     * Whether the digit at {@code first} survives 30 % kept under one global threshold over every (layer, head)
     * entry outside the sinks and a 16-token window, in the head whose scores on the value's other five digits are
     * highest (the head that reads this value).
     */
    static boolean survives(KvzipScores s, int first) {
        java.util.List<Float> all = new java.util.ArrayList<>();
        float best = -1;
        float[] head = null;
        for (int l : s.scoredLayers())
            for (float[] h : s.scores()[l]) {
                for (int i = 4; i < h.length - 16; i++) all.add(h[i]);
                float m = 0;
                for (int i = 1; i < 6; i++) m += h[first + i];
                if (m > best) { best = m; head = h; }
            }
        java.util.Collections.sort(all);
        int n = head.length;
        double kept = (0.3 * n - 20) / (n - 20); // r' of the candidates: 30 % of n per head, 4 sinks + 16 window counted in
        return head[first] >= all.get((int) (all.size() * (1 - kept)));
    }

    /** The reconstruction pass is the real thing: teacher-forced, the model reproduces its context. */
    @Test
    void reconstructionPassReproducesTheContextWithoutTouchingTheCache() {
        Passkey p = passkey(new Random(11));
        try (NDManager scope = model.manager().newSubManager(); KvCache cache = model.newCache()) {
            model.forward(scope, cache, p.ids(), ForwardOptions.defaults().withLogits(ForwardOptions.Logits.NONE));
            long entries = cache.totalEntries();
            int[] target = Arrays.copyOfRange(p.ids(), 1, p.ids().length - 1);
            int[] input = tinyPrompt().passInput(null, target);
            var out = model.forward(scope, cache, input, ForwardOptions.defaults().withExtendCache(false)
                    .withLogits(ForwardOptions.Logits.ALL));
            assertEquals(entries, cache.totalEntries());
            assertEquals(p.ids().length, cache.nextPosition());
            float[] logits = out.logits().toFloatArray();
            int vocab = (int) out.logits().getShape().get(1), first = input.length - target.length, right = 0;
            for (int t = first - 1; t < input.length - 1; t++) {
                int best = 0;
                for (int v = 1; v < vocab; v++) if (logits[t * vocab + v] > logits[t * vocab + best]) best = v;
                if (best == input[t + 1]) right++;
            }
            assertTrue(right >= 0.95 * target.length, "reproduced " + right + " of " + target.length + " tokens");
        }
    }

    @Test
    void chunkedScoringMatchesShapeAndKeepsCacheUnchanged() {
        Passkey p = passkey(new Random(3));
        try (NDManager scope = model.manager().newSubManager(); KvCache cache = model.newCache()) {
            model.forward(scope, cache, p.ids(), ForwardOptions.defaults().withLogits(ForwardOptions.Logits.NONE));
            long before = cache.totalEntries();
            KvzipScores whole = new KvzipScorer(tinyPrompt(), 4096).score(model, cache, p.ids());
            KvzipScores chunked = new KvzipScorer(tinyPrompt(), 128).score(model, cache, p.ids());
            assertEquals(before, cache.totalEntries());
            assertEquals(p.ids().length, cache.nextPosition());
            // Chunked scoring sees fewer keys per softmax, so probabilities differ, but the needle stays on top.
            for (int l : whole.scoredLayers()) {
                for (int h = 0; h < whole.scores()[l].length; h++) {
                    assertEquals(whole.scores()[l][h].length, chunked.scores()[l][h].length);
                }
            }
        }
    }
}
