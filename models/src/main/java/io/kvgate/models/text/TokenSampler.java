package io.kvgate.models.text;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;

import java.util.Random;

/**
 * Picks the next token from one row of logits on the logits' own device: only the chosen id crosses to the host.
 * Greedy = argmax; otherwise softmax(logits / T), the smallest set of most likely tokens whose probability reaches
 * top-p, and one draw from it with a seeded uniform number.
 */
final class TokenSampler {
    private final SamplingConfig config;
    private final Random random;

    TokenSampler(SamplingConfig config) {
        this.config = config;
        this.random = new Random(config.seed());
    }

    /** @param logits [1, vocab] or [vocab] logits of the last position; intermediates belong to its manager */
    int next(NDArray logits) {
        NDArray row = logits.reshape(-1);
        if (config.isGreedy()) return (int) row.argMax().getLong();
        NDArray probs = row.toType(DataType.FLOAT32, false).div(config.temperature()).softmax(0);
        NDArray order = probs.argSort(0, false); // most likely first
        NDArray sorted = probs.take(order);
        NDArray cumulative = sorted.cumSum(0);
        // keep a token while the mass before it is below top-p (the most likely one always stays)
        NDArray keep = cumulative.sub(sorted).lt(config.topP()).toType(DataType.FLOAT32, false);
        NDArray kept = sorted.mul(keep);
        NDArray threshold = kept.sum().mul(random.nextDouble());
        NDArray index = kept.cumSum(0).lte(threshold).toType(DataType.INT64, false).sum()
                .minimum(keep.sum().toType(DataType.INT64, false).sub(1));
        return (int) order.take(index.reshape(1)).getLong();
    }
}
