package io.kvgate.models.text;

import ai.djl.ndarray.NDManager;
import io.kvgate.models.ForwardObserver;
import io.kvgate.models.ForwardOptions;
import io.kvgate.models.ForwardResult;
import io.kvgate.models.KvCache;
import io.kvgate.models.KvgateException;
import io.kvgate.models.Model;

import java.util.Arrays;
import java.util.function.IntConsumer;

/**
 * Autoregressive generation with a KV cache: the prompt is prefilled in chunks (appended to whatever the cache
 * already holds), then tokens are decoded one at a time until a stop id, {@code maxNewTokens}, or the model's
 * position limit. Each step runs in its own NDManager scope; only the chosen id crosses to the host.
 */
public final class Generator {
    /** Prompt tokens fed per forward call during prefill. */
    public static final int DEFAULT_PREFILL_CHUNK = 512;

    private final int prefillChunk;

    public Generator() {
        this(DEFAULT_PREFILL_CHUNK);
    }

    public Generator(int prefillChunk) {
        if (prefillChunk < 1) throw new IllegalArgumentException("prefillChunk must be >= 1: " + prefillChunk);
        this.prefillChunk = prefillChunk;
    }

    /**
     * Continues {@code promptIds} (fed after the cache's current contents).
     *
     * @param hook    observer for every cache-extending forward and a callback after each; null = none
     * @param onToken receives each generated id as soon as it is chosen (streaming); null = none
     * @return the generated ids, without the stop id that ended generation
     */
    public int[] generate(Model model, KvCache cache, int[] promptIds, SamplingConfig cfg, DecodeHook hook,
                          IntConsumer onToken) {
        if (promptIds.length == 0) throw new KvgateException("empty prompt: generation needs at least one token");
        int limit = model.config().maxPositions();
        if (cache.nextPosition() + promptIds.length > limit) {
            throw new KvgateException("prompt of " + promptIds.length + " tokens after " + cache.nextPosition()
                    + " cached ones exceeds the model's " + limit + " positions");
        }
        int[] stopIds = stopIds(model.config().eosTokenIds(), cfg.extraStopIds());
        ForwardObserver observer = hook == null ? null : hook.observer();
        ForwardOptions prefillOptions = ForwardOptions.defaults().withObserver(observer).withLogits(ForwardOptions.Logits.NONE);
        ForwardOptions stepOptions = ForwardOptions.defaults().withObserver(observer).withLogits(ForwardOptions.Logits.LAST);
        TokenSampler sampler = new TokenSampler(cfg);
        int[] generated = new int[Math.max(cfg.maxNewTokens(), 0)];
        int n = 0;
        if (cfg.maxNewTokens() == 0) {
            prefill(model, cache, promptIds, prefillOptions, stepOptions, hook, null);
            return new int[0];
        }

        int next = prefill(model, cache, promptIds, prefillOptions, stepOptions, hook, sampler);
        while (true) {
            if (contains(stopIds, next)) break;
            generated[n++] = next;
            if (onToken != null) onToken.accept(next);
            if (n == cfg.maxNewTokens() || cache.nextPosition() >= limit) break;
            try (NDManager scope = model.manager().newSubManager()) {
                ForwardResult r = model.forward(scope, cache, new int[] {next}, stepOptions);
                if (hook != null) hook.afterStep(cache, Arrays.copyOf(generated, n));
                next = sampler.next(r.logits());
            }
        }
        return Arrays.copyOf(generated, n);
    }

    /** Feeds the prompt in chunks (logits only for the last one) and returns the first sampled id (-1 without a sampler). */
    private int prefill(Model model, KvCache cache, int[] prompt, ForwardOptions chunkOptions, ForwardOptions lastOptions,
                        DecodeHook hook, TokenSampler sampler) {
        int next = -1;
        for (int start = 0; start < prompt.length; start += prefillChunk) {
            int end = Math.min(prompt.length, start + prefillChunk);
            boolean last = end == prompt.length;
            try (NDManager scope = model.manager().newSubManager()) {
                ForwardResult r = model.forward(scope, cache, Arrays.copyOfRange(prompt, start, end),
                        last && sampler != null ? lastOptions : chunkOptions);
                if (last && hook != null) hook.afterStep(cache, new int[0]);
                if (last && sampler != null) next = sampler.next(r.logits());
            }
        }
        return next;
    }

    static int[] stopIds(int[] eos, int[] extra) {
        int[] all = Arrays.copyOf(eos, eos.length + extra.length);
        System.arraycopy(extra, 0, all, eos.length, extra.length);
        return all;
    }

    private static boolean contains(int[] ids, int id) {
        for (int x : ids) if (x == id) return true;
        return false;
    }
}
