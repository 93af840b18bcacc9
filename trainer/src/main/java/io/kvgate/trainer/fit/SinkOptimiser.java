package io.kvgate.trainer.fit;

import io.kvgate.gates.SinkGate.Params;

/**
 * Where {@link SinkFitter}'s Adam steps run: plain Java ({@link SinkFitter}'s own, the reference) or batched libtorch
 * ops on a device ({@link DeviceSinkObjective}). The fitter owns the schedule (minibatches, learning rate, which
 * iterate to keep); an optimiser owns the parameters, their Adam moments and the objective.
 */
interface SinkOptimiser extends AutoCloseable {
    /** Sets the starting parameters (copied) and zero moments. */
    void start(Params p);

    /** The objective over rows {@code idx} at the current parameters. */
    double loss(int[] idx);

    /** One Adam step on rows {@code batch}; {@code stepSizes} per parameter array, c1/c2 the bias corrections 1 − β^t. */
    void step(int[] batch, double[] stepSizes, double b1, double b2, double c1, double c2);

    /** A copy of the current parameters. */
    Params snapshot();

    @Override
    void close();
}
