package io.kvgate.evaluator.policy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import io.kvgate.models.ForwardObserver;
import io.kvgate.models.FusedGate;
import io.kvgate.models.KvCache;

import java.util.ArrayList;
import java.util.List;

/**
 * Fast KVzip's gates (ALGORITHM.md §4): a token's score depends only on its own attention-input hidden
 * state, so it is computed once, as the token enters the cache. During prefill each chunk is scored on the
 * device as the layer produces it; during decoding the new tokens' hidden states are buffered and the buffer
 * is scored once per decode interval (the runtime has it scored every 128 tokens), never re-scored. Scores
 * stay on the device ({@link PendingScores}) until an eviction needs them and then come back in one copy: a
 * host read waits for the GPU, so nothing is read when nothing is evicted (ratio 1, decoding within budget).
 */
public final class GateScorer implements Scorer {
    private final LayerGates gates;
    private final Runnable onHostRead;

    public GateScorer(LayerGates gates) {
        this(gates, () -> {});
    }

    /** Tests count the device-to-host score reads with {@code onHostRead}. */
    GateScorer(LayerGates gates, Runnable onHostRead) {
        this.gates = gates;
        this.onHostRead = onHostRead;
    }

    @Override
    public String name() {
        return "gate";
    }

    @Override
    public ScoreSession start(SequenceInfo sequence) {
        return new Session(sequence);
    }

    private final class Session implements ScoreSession {
        private final PositionBook book;
        private final NDManager buffers;
        private final List<List<NDArray>> pendingX = new ArrayList<>();       // decode: hidden states to score
        private final List<List<int[]>> pendingPositions = new ArrayList<>();
        private final List<NDArray> pendingStacks = new ArrayList<>();        // decode steps run as one graph: [L, T, hidden]
        private final List<int[]> pendingStackPositions = new ArrayList<>();
        private final PendingScores pendingScores;                            // device scores [H, T] not read yet
        private boolean decoding;
        private final ai.djl.Device device;

        Session(SequenceInfo seq) {
            device = seq.model().device();
            int layers = seq.model().config().numLayers();
            book = new PositionBook(layers, seq.model().config().numKvHeads(), gates.layers());
            buffers = seq.model().manager().newSubManager();
            pendingScores = new PendingScores(layers, buffers, onHostRead);
            for (int l = 0; l < layers; l++) {
                pendingX.add(new ArrayList<>());
                pendingPositions.add(new ArrayList<>());
            }
        }

        @Override
        public ForwardObserver observer(KvCache cache) {
            return new ForwardObserver() {
                @Override
                public void attentionInput(int layer, NDArray x, int[] positions) {
                    if (!book.scored(layer)) return;
                    if (decoding) { // buffered: scored in one batch per decode interval
                        x.attach(buffers); // taken over, not copied: no device op per layer and step
                        pendingX.get(layer).add(x);
                        pendingPositions.get(layer).add(positions.clone());
                    } else {
                        keepScores(layer, gates.score(layer, x), positions.clone());
                    }
                }

                @Override
                public FusedGate fusedGate(int layer) {
                    // prefill chunks: scored inside the layer's fused call (no gate ops of their own on a GPU)
                    return decoding || !book.scored(layer) ? null : gates.fused(layer, device);
                }

                @Override
                public void gateScores(int layer, NDArray scores, int[] positions) {
                    keepScores(layer, scores, positions.clone());
                }

                @Override
                public boolean attentionInputsOnly() {
                    return true;
                }

                @Override
                public void attentionInputs(NDArray all, int[] positions) {
                    if (!decoding) {
                        ForwardObserver.super.attentionInputs(all, positions);
                        return;
                    }
                    all.attach(buffers); // taken over whole: no device op per layer and step
                    pendingStacks.add(all);
                    pendingStackPositions.add(positions.clone());
                }
            };
        }

        @Override
        public float[][][] scores(KvCache cache, Stage stage) {
            scoreBuffered();
            pendingScores.readInto(book);
            return book.lookup(cache);
        }

        /**
         * No read back here: the context's scores that no eviction needed stay on the device, pinned as part of
         * the state every query starts from, and the book's snapshot shares its rows instead of copying them.
         */
        @Override
        public void contextDone(KvCache cache) {
            scoreBuffered();
            pendingScores.pinContext();
            book.snapshot();
            decoding = true;
        }

        @Override
        public void rewindToContext() {
            dropBuffered();
            pendingScores.rewindToContext();
            book.restore();
        }

        /** Scores every buffered hidden state in one batched call per layer, on the device (nothing is read back). */
        @Override
        public void scoreBuffered() {
            for (int l = 0; l < pendingX.size(); l++) {
                List<NDArray> xs = pendingX.get(l);
                if (xs.isEmpty()) continue;
                int[] positions = concat(pendingPositions.get(l));
                if (xs.size() == 1) {
                    keepScores(l, gates.score(l, xs.get(0)), positions);
                } else {
                    try (NDArray x = NDArrays.concat(new NDList(xs), 0)) {
                        keepScores(l, gates.score(l, x), positions);
                    }
                }
            }
            flushStacks();
            dropBuffered();
        }

        /** Scores the buffered all-layer attention inputs: one concat, then one slice and one gate call per layer. */
        private void flushStacks() {
            if (pendingStacks.isEmpty()) return;
            int[] positions = concat(pendingStackPositions);
            boolean joined = pendingStacks.size() > 1;
            NDArray stacked = joined ? NDArrays.concat(new NDList(pendingStacks), 1) : pendingStacks.get(0); // [L, N, hidden]
            try {
                for (int l = 0; l < pendingX.size(); l++) {
                    if (!book.scored(l)) continue;
                    try (NDArray x = stacked.get(l)) {
                        keepScores(l, gates.score(l, x), positions);
                    }
                }
            } finally {
                if (joined) stacked.close();
            }
        }

        private static int[] concat(List<int[]> parts) {
            int total = 0;
            for (int[] p : parts) total += p.length;
            int[] out = new int[total];
            int o = 0;
            for (int[] p : parts) {
                System.arraycopy(p, 0, out, o, p.length);
                o += p.length;
            }
            return out;
        }

        private void keepScores(int layer, NDArray scores, int[] positions) {
            pendingScores.add(layer, scores, positions);
        }

        private void dropBuffered() {
            for (List<NDArray> xs : pendingX) {
                xs.forEach(NDArray::close);
                xs.clear();
            }
            pendingPositions.forEach(List::clear);
            pendingStacks.forEach(NDArray::close);
            pendingStacks.clear();
            pendingStackPositions.clear();
        }

        @Override
        public void close() {
            dropBuffered();
            pendingScores.close();
            buffers.close();
        }
    }
}
