package io.kvgate.models.text;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.kvgate.models.Checkpoint;
import io.kvgate.models.ForwardObserver;
import io.kvgate.models.ForwardOptions;
import io.kvgate.models.KvCache;
import io.kvgate.models.Model;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Generation on the tiny retrieval model (checkpoints/tiny-retrieval-qwen3), float32 on CPU. */
class GeneratorTest {
    static final Path TINY = Path.of("..", "checkpoints", "tiny-retrieval-qwen3");
    static Checkpoint checkpoint;
    static Model model;
    static TextTokenizer tokenizer;

    @BeforeAll
    static void load() {
        checkpoint = Checkpoint.open(TINY);
        model = Model.load(checkpoint, Device.cpu(), DataType.FLOAT32);
        tokenizer = TextTokenizer.load(TINY);
    }

    @AfterAll
    static void close() {
        if (tokenizer != null) tokenizer.close();
        if (model != null) model.close();
        if (checkpoint != null) checkpoint.close();
    }

    private static int[] generate(int[] prompt, SamplingConfig cfg, DecodeHook hook, java.util.function.IntConsumer onToken) {
        try (KvCache cache = model.newCache()) {
            return new Generator().generate(model, cache, prompt, cfg, hook, onToken);
        }
    }

    @Test
    void tinyModelAnswersSeededPasskeyPromptsGreedily() {
        List<String> wrong = new ArrayList<>();
        List<PasskeyPrompts.Passkey> prompts = new PasskeyPrompts().make(20261123L, 6);
        for (PasskeyPrompts.Passkey p : prompts) {
            // " 12345." is 7 byte-level tokens
            int[] out = generate(tokenizer.encode(p.prompt()), SamplingConfig.greedy(7), null, null);
            String answer = tokenizer.decode(out, false);
            if (!answer.startsWith(p.answer())) wrong.add(p.answer() + " -> " + answer);
        }
        assertEquals(List.of(), wrong, "passkey answers");
    }

    @Test
    void greedyDecodingWithTheCacheMatchesArgmaxOfAFullForward() {
        PasskeyPrompts.Passkey p = new PasskeyPrompts().make(5, 1).get(0);
        int[] prompt = tokenizer.encode(p.prompt());
        int[] out = generate(prompt, SamplingConfig.greedy(8), null, null);
        assertTrue(out.length > 0);
        int[] all = Arrays.copyOf(prompt, prompt.length + out.length);
        System.arraycopy(out, 0, all, prompt.length, out.length);
        try (NDManager scope = model.manager().newSubManager(); KvCache cache = model.newCache()) {
            NDArray logits = model.forward(scope, cache, all, ForwardOptions.defaults().withLogits(ForwardOptions.Logits.ALL)).logits();
            long[] argmax = logits.argMax(1).toLongArray();
            for (int i = 0; i < out.length; i++) {
                assertEquals(argmax[prompt.length - 1 + i], out[i], "generated token " + i);
            }
        }
    }

    @Test
    void stopsBeforeAStopIdAndStreamsEveryToken() {
        int[] prompt = tokenizer.encode(new PasskeyPrompts().make(9, 1).get(0).prompt());
        int[] free = generate(prompt, SamplingConfig.greedy(6), null, null);
        int k = 1;
        while (k < free.length && contains(Arrays.copyOf(free, k), free[k])) k++;
        assertTrue(k < free.length, "need a token that did not occur before it: " + Arrays.toString(free));
        List<Integer> streamed = new ArrayList<>();
        int[] stopped = generate(prompt, SamplingConfig.greedy(6).withExtraStopIds(free[k]), null, streamed::add);
        assertArrayEquals(Arrays.copyOf(free, k), stopped);
        assertEquals(Arrays.stream(stopped).boxed().toList(), streamed);
    }

    @Test
    void hookSeesEveryCacheExtendingForward() {
        int[] prompt = tokenizer.encode(new PasskeyPrompts().make(11, 1).get(0).prompt());
        int layers = model.config().numLayers();
        List<Integer> seenLengths = new ArrayList<>();
        List<Integer> cachePositions = new ArrayList<>();
        int[] observedTokens = new int[1];
        DecodeHook hook = new DecodeHook() {
            @Override
            public ForwardObserver observer() {
                return new ForwardObserver() {
                    @Override
                    public void attentionInput(int layer, NDArray x, int[] positions) {
                        if (layer == layers - 1) observedTokens[0] += positions.length;
                    }
                };
            }

            @Override
            public void afterStep(KvCache cache, int[] generatedSoFar) {
                seenLengths.add(generatedSoFar.length);
                cachePositions.add(cache.nextPosition());
            }
        };
        int[] out;
        try (KvCache cache = model.newCache()) {
            out = new Generator().generate(model, cache, prompt, new SamplingConfig(5, 0, 1, 0, new int[0]), hook, null);
        }
        assertEquals(5, out.length, "no EOS expected within 5 tokens of a passkey answer");
        // once after the prompt, then after each fed token; the 5th token is never fed
        assertEquals(List.of(0, 1, 2, 3, 4), seenLengths);
        assertEquals(List.of(prompt.length, prompt.length + 1, prompt.length + 2, prompt.length + 3, prompt.length + 4),
                cachePositions);
        assertEquals(prompt.length + 4, observedTokens[0]);
    }

    @Test
    void seededSamplingIsReproducible() {
        int[] prompt = tokenizer.encode("<|im_start|>The old harbor town wakes slowly");
        SamplingConfig hot = SamplingConfig.sampling(6, 1.5, 0.95, 123);
        int[] a = generate(prompt, hot, null, null);
        assertArrayEquals(a, generate(prompt, hot, null, null));
        int[] greedy = generate(prompt, SamplingConfig.greedy(6), null, null);
        // at T = 1.5 over a 264-token vocabulary, six draws all equal to the argmax would be a broken sampler
        assertTrue(!Arrays.equals(a, greedy), "sampling at T=1.5 followed the greedy path: " + Arrays.toString(a));
    }

    private static boolean contains(int[] xs, int x) {
        return Arrays.stream(xs).anyMatch(v -> v == x);
    }
}
