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
    static final String FILLER = "The river town woke slowly under a pale sky. Merchants opened their shutters, "
            + "children ran along the stone quay, and the ferryman counted coins while gulls argued over scraps. "
            + "In the library on the hill, an old clerk sorted letters that no one had claimed for years, "
            + "reading each address aloud as if the names might answer. Rain came in the afternoon and the "
            + "streets emptied, leaving only the sound of water in the gutters and a dog asleep by the bakery door. ";

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
        String filler = (FILLER + FILLER + FILLER).substring(start, start + fillerLen);
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
        for (int i = 0; i < 5; i++) needle[first + i] = true;
        return new Passkey(ids, needle);
    }

    @Test
    void needleDigitsRankInTopDecileFarMoreOftenThanFiller() {
        KvzipScorer scorer = new KvzipScorer(tinyPrompt(), 2000);
        Random r = new Random(7);
        long needleTop = 0, needleAll = 0, fillerTop = 0, fillerAll = 0;
        for (int doc = 0; doc < 12; doc++) {
            Passkey p = passkey(r);
            try (NDManager scope = model.manager().newSubManager(); KvCache cache = model.newCache()) {
                model.forward(scope, cache, p.ids(), ForwardOptions.defaults().withLogits(ForwardOptions.Logits.NONE));
                KvzipScores s = scorer.score(model, cache, p.ids());
                for (int l : s.scoredLayers()) {
                    for (float[] head : s.scores()[l]) {
                        assertEquals(p.ids().length, head.length);
                        float[] sorted = head.clone();
                        Arrays.sort(sorted);
                        float decile = sorted[(int) (sorted.length * 0.9)];
                        for (int i = 4; i < head.length; i++) { // skip the always-kept sinks
                            assertTrue(head[i] >= 0 && head[i] <= 1, "score out of [0,1]");
                            boolean top = head[i] >= decile;
                            if (p.needle()[i]) { needleAll++; if (top) needleTop++; }
                            else { fillerAll++; if (top) fillerTop++; }
                        }
                    }
                }
            }
        }
        double needleRate = needleTop / (double) needleAll, fillerRate = fillerTop / (double) fillerAll;
        System.out.printf("needle digits in top decile: %.3f, filler: %.3f%n", needleRate, fillerRate);
        assertTrue(needleRate > 3 * fillerRate, "needle " + needleRate + " vs filler " + fillerRate);
        assertTrue(needleRate > 0.4, "needle digits rarely in the top decile: " + needleRate);
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
