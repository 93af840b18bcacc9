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
 * Autoregressive generation with a KV cache: the prompt is prefilled (appended to whatever the cache already holds;
 * {@link Model#forward} splits it into its prefill chunks), then tokens are decoded one at a time until a stop id,
 * {@code maxNewTokens}, or the model's position limit. Each forward runs in its own NDManager scope; only the chosen
 * id crosses to the host.
 */
public final class Generator {

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
        ForwardOptions options = ForwardOptions.defaults().withObserver(observer)
                .withLogits(cfg.maxNewTokens() == 0 ? ForwardOptions.Logits.NONE : ForwardOptions.Logits.LAST);
        TokenSampler sampler = new TokenSampler(cfg);
        int[] generated = new int[cfg.maxNewTokens()];
        int n = 0;
        int[] feed = promptIds;
        while (true) {
            int next;
            try (NDManager scope = model.manager().newSubManager()) {
                ForwardResult r = model.forward(scope, cache, feed, options);
                if (hook != null) hook.afterStep(cache, Arrays.copyOf(generated, n));
                if (cfg.maxNewTokens() == 0) break;
                next = sampler.next(r.logits());
            }
            if (contains(stopIds, next)) break;
            generated[n++] = next;
            if (onToken != null) onToken.accept(next);
            if (n == cfg.maxNewTokens() || cache.nextPosition() >= limit) break;
            feed = new int[] {next};
        }
        return Arrays.copyOf(generated, n);
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
