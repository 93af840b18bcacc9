package io.kvgate.trainer.fit;

import io.kvgate.datasets.FeatureBatch;
import io.kvgate.models.KvgateException;

/**
 * Checks every batch before it is fitted on: sizes that match the source's manifest, finite hidden states,
 * targets in [0, 1]. Errors name the layer and the row (counted from the layer's first row).
 */
final class BatchCheck {
    private final TrainingRows source;
    private final int layer;
    private long rowsSeen;

    BatchCheck(TrainingRows source, int layer) {
        this.source = source;
        this.layer = layer;
    }

    void check(FeatureBatch b) {
        int d = source.hiddenSize(), h = source.kvHeads();
        String where = "features of " + source.description() + ", layer " + layer;
        if (b.layer() != layer) throw new KvgateException(where + ": a batch claims layer " + b.layer());
        if (b.hidden() != d || b.kvHeads() != h)
            throw new KvgateException(where + ": a batch has hidden " + b.hidden() + " / kv heads " + b.kvHeads() + ", the manifest says " + d + " / " + h + " (shards of another model?)");
        if (b.x().length != (long) b.rows() * d || b.target().length != (long) b.rows() * h || b.heldOut().length != b.rows())
            throw new KvgateException(where + ": a batch of " + b.rows() + " rows has arrays of the wrong length");
        for (int r = 0; r < b.rows(); r++) {
            for (int i = 0; i < d; i++) {
                float v = b.x()[r * d + i];
                if (!Float.isFinite(v)) throw new KvgateException(where + ", row " + (rowsSeen + r) + ": hidden state value " + i + " is " + v);
            }
            for (int i = 0; i < h; i++) {
                float v = b.target()[r * h + i];
                if (!(v >= 0f && v <= 1f)) throw new KvgateException(where + ", row " + (rowsSeen + r) + ": target of KV head " + i + " is " + v + " (expected a score in [0, 1])");
            }
        }
        rowsSeen += b.rows();
    }
}
