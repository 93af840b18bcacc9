package io.kvgate.models.text;

import io.kvgate.models.KvgateException;

import java.util.Arrays;

/**
 * How {@link Generator} picks tokens: greedy (temperature 0) or temperature + nucleus (top-p) sampling with a seed;
 * at most {@code maxNewTokens}; generation stops at the model's EOS ids plus {@code extraStopIds}.
 */
public record SamplingConfig(int maxNewTokens, double temperature, double topP, long seed, int[] extraStopIds) {
    public SamplingConfig {
        if (maxNewTokens < 0) throw new KvgateException("max new tokens " + maxNewTokens + ": expected >= 0");
        if (!(temperature >= 0) || Double.isInfinite(temperature)) {
            throw new KvgateException("temperature " + temperature + ": expected a finite number >= 0 (0 = greedy)");
        }
        if (!(topP > 0 && topP <= 1)) throw new KvgateException("top-p " + topP + ": expected a value in (0, 1]");
        extraStopIds = extraStopIds == null ? new int[0] : extraStopIds.clone();
    }

    /** Greedy decoding (argmax at every step). */
    public static SamplingConfig greedy(int maxNewTokens) {
        return new SamplingConfig(maxNewTokens, 0, 1, 0, new int[0]);
    }

    /** Temperature + top-p sampling, reproducible for a given seed. */
    public static SamplingConfig sampling(int maxNewTokens, double temperature, double topP, long seed) {
        return new SamplingConfig(maxNewTokens, temperature, topP, seed, new int[0]);
    }

    /** The same config with these ids also ending generation (e.g. a chat template's end-of-turn token). */
    public SamplingConfig withExtraStopIds(int... ids) {
        int[] all = Arrays.copyOf(extraStopIds, extraStopIds.length + ids.length);
        System.arraycopy(ids, 0, all, extraStopIds.length, ids.length);
        return new SamplingConfig(maxNewTokens, temperature, topP, seed, all);
    }

    public boolean isGreedy() {
        return temperature == 0;
    }

    @Override
    public int[] extraStopIds() {
        return extraStopIds.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof SamplingConfig c && c.maxNewTokens == maxNewTokens && c.temperature == temperature
                && c.topP == topP && c.seed == seed && Arrays.equals(c.extraStopIds, extraStopIds);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(new double[] {maxNewTokens, temperature, topP, seed}) * 31 + Arrays.hashCode(extraStopIds);
    }

    @Override
    public String toString() {
        return isGreedy() ? "greedy, max " + maxNewTokens + " tokens"
                : "temperature " + temperature + ", top-p " + topP + ", seed " + seed + ", max " + maxNewTokens + " tokens";
    }
}
