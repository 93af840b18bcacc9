package io.kvgate.trainer.fit;

import ai.djl.Device;
import io.kvgate.datasets.FeatureBatch;
import io.kvgate.models.KvgateException;

import java.util.SplittableRandom;

/**
 * Everything one pass over a layer's rows yields: normal equations of the logit targets for the training rows
 * and for the held-out rows, every held-out row (for metrics), and — when the sink gate is fitted — a
 * uniform sample (reservoir, seeded) of at most {@code maxTrainRows} training rows.
 */
final class LayerData {
    final int layer;
    final NormalEquations train, heldOut;
    final RowBuffer heldRows;
    final RowBuffer trainRows; // null when not kept
    long trainSeen;

    private LayerData(TrainingRows src, int layer, boolean keepTrain, int maxTrainRows) {
        this.layer = layer;
        this.train = new NormalEquations(src.modelFingerprint(), layer, src.hiddenSize(), src.kvHeads());
        this.heldOut = new NormalEquations(src.modelFingerprint(), layer, src.hiddenSize(), src.kvHeads());
        this.heldRows = new RowBuffer(src.hiddenSize(), src.kvHeads(), 1024);
        this.trainRows = keepTrain ? new RowBuffer(src.hiddenSize(), src.kvHeads(), Math.min(maxTrainRows, 65536)) : null;
    }

    /**
     * One pass over the layer's rows; the normal equations are summed on {@code device}. Time spent outside this
     * class's own work (decoding shards) and checking rows counts as {@link FitTimings.Stage#READ}.
     */
    static LayerData read(TrainingRows src, int layer, double epsilon, boolean keepTrain, int maxTrainRows, long seed,
                          Device device, FitTimings timings) {
        LayerData d = new LayerData(src, layer, keepTrain, maxTrainRows);
        BatchCheck check = new BatchCheck(src, layer);
        SplittableRandom rng = new SplittableRandom(seed * 1_000_003L + layer);
        long t0 = System.nanoTime();
        long[] own = new long[1];
        try (NormalEquations.Accumulator train = d.train.accumulator(device); NormalEquations.Accumulator held = d.heldOut.accumulator(device)) {
            src.forEachBatch(layer, b -> {
                check.check(b);
                long t1 = System.nanoTime();
                d.add(b, epsilon, maxTrainRows, rng, train, held, timings);
                own[0] += System.nanoTime() - t1;
            });
            long t2 = System.nanoTime();
            train.close();
            held.close();
            long closed = System.nanoTime() - t2;
            timings.add(FitTimings.Stage.NORMAL_EQUATIONS, closed);
            own[0] += closed;
        }
        timings.add(FitTimings.Stage.READ, System.nanoTime() - t0 - own[0]);
        int need = src.hiddenSize() + 1;
        if (d.train.rows() < need)
            throw new KvgateException("features of " + src.description() + ", layer " + layer + ": " + d.train.rows() + " training rows for hidden size "
                    + src.hiddenSize() + "; fitting needs at least " + need + " (collect more tokens or keep a larger fraction)");
        if (d.heldOut.rows() == 0)
            throw new KvgateException("features of " + src.description() + ", layer " + layer + ": no held-out rows (needed to choose λ and to measure the gates)");
        return d;
    }

    private void add(FeatureBatch b, double eps, int maxTrainRows, SplittableRandom rng, NormalEquations.Accumulator trainSums,
                     NormalEquations.Accumulator heldSums, FitTimings timings) {
        long t0 = System.nanoTime();
        int n = b.rows();
        int[] tr = new int[n], ho = new int[n];
        int nt = 0, nh = 0;
        for (int r = 0; r < n; r++) {
            if (b.heldOut()[r]) ho[nh++] = r;
            else tr[nt++] = r;
        }
        float[] z = Logit.of(b.target(), b.target().length, eps);
        long t1 = System.nanoTime();
        trainSums.add(b.x(), z, tr, nt);
        heldSums.add(b.x(), z, ho, nh);
        long t2 = System.nanoTime();
        timings.add(FitTimings.Stage.NORMAL_EQUATIONS, t2 - t1);
        for (int k = 0; k < nh; k++) heldRows.append(b.x(), b.target(), ho[k]);
        if (trainRows != null) {
            for (int k = 0; k < nt; k++) {
                long i = trainSeen++;
                if (i < maxTrainRows) trainRows.append(b.x(), b.target(), tr[k]);
                else {
                    long j = rng.nextLong(i + 1);
                    if (j < maxTrainRows) trainRows.set((int) j, b.x(), b.target(), tr[k]);
                }
            }
        }
        timings.add(FitTimings.Stage.ROWS, (t1 - t0) + (System.nanoTime() - t2));
    }
}
