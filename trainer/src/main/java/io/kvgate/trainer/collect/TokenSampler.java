package io.kvgate.trainer.collect;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Which positions of a context become rows, and which rows are held out. Deterministic per
 * (seed, document), so a resumed or repeated collection samples exactly the same tokens.
 */
final class TokenSampler {
    private final CollectSettings settings;

    TokenSampler(CollectSettings settings) {
        this.settings = settings;
    }

    /** Ascending sampled positions of a context of {@code length} tokens. */
    int[] sample(int length, int document) {
        int first = Math.min(settings.skipLeading(), length);
        int eligible = length - first;
        if (eligible == 0) return new int[0];
        int k = (int) Math.max(1, Math.round(settings.sampleFraction() * eligible));
        int[] pool = new int[eligible];
        for (int i = 0; i < eligible; i++) pool[i] = first + i;
        SplittableRandom r = new SplittableRandom(settings.seed() * 0x9E3779B97F4A7C15L + document);
        for (int i = 0; i < k; i++) { // partial Fisher-Yates
            int j = i + r.nextInt(eligible - i);
            int t = pool[i];
            pool[i] = pool[j];
            pool[j] = t;
        }
        int[] out = Arrays.copyOf(pool, k);
        Arrays.sort(out);
        return out;
    }

    /** The {@code sampleIndex}-th sampled token of {@code document} is held out. */
    boolean heldOut(int document, int sampleIndex) {
        int every = settings.heldOutEvery();
        return (sampleIndex + (long) document) % every == every - 1;
    }
}
