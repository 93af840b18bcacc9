package io.kvgate.evaluator.policy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import io.kvgate.models.ForwardObserver;
import io.kvgate.models.KvCache;

import java.util.ArrayList;
import java.util.List;

/**
 * Fast KVzip's gates (ALGORITHM.md §4): a token's score depends only on its own attention-input hidden
 * state, so it is computed once, as the token enters the cache. During prefill each chunk is scored as the
 * layer produces it; during decoding the new tokens' hidden states are buffered and the buffer is scored
 * once per decode interval (the runtime asks every 128 tokens), never re-scored.
 */
public final class GateScorer implements Scorer {
    private final LayerGates gates;

    public GateScorer(LayerGates gates) {
        this.gates = gates;
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
        private final List<List<NDArray>> pendingX = new ArrayList<>();
        private final List<List<int[]>> pendingPositions = new ArrayList<>();
        private boolean decoding;

        Session(SequenceInfo seq) {
            int layers = seq.model().config().numLayers();
            book = new PositionBook(layers, seq.model().config().numKvHeads(), gates.layers());
            buffers = seq.model().manager().newSubManager();
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
                        NDArray copy = x.duplicate();
                        copy.attach(buffers);
                        pendingX.get(layer).add(copy);
                        pendingPositions.get(layer).add(positions.clone());
                    } else {
                        record(layer, gates.score(layer, x), positions);
                    }
                }
            };
        }

        @Override
        public float[][][] scores(KvCache cache, Stage stage) {
            flush();
            return book.lookup(cache);
        }

        @Override
        public void contextDone(KvCache cache) {
            flush();
            book.snapshot();
            decoding = true;
        }

        @Override
        public void rewindToContext() {
            dropPending();
            book.restore();
        }

        /** Scores every buffered hidden state in one batched call per layer. */
        private void flush() {
            for (int l = 0; l < pendingX.size(); l++) {
                List<NDArray> xs = pendingX.get(l);
                if (xs.isEmpty()) continue;
                int total = 0;
                for (int[] p : pendingPositions.get(l)) total += p.length;
                int[] positions = new int[total];
                int o = 0;
                for (int[] p : pendingPositions.get(l)) {
                    System.arraycopy(p, 0, positions, o, p.length);
                    o += p.length;
                }
                if (xs.size() == 1) {
                    record(l, gates.score(l, xs.get(0)), positions);
                } else {
                    try (NDArray x = NDArrays.concat(new NDList(xs), 0)) {
                        record(l, gates.score(l, x), positions);
                    }
                }
            }
            dropPending();
        }

        private void dropPending() {
            for (List<NDArray> xs : pendingX) {
                xs.forEach(NDArray::close);
                xs.clear();
            }
            pendingPositions.forEach(List::clear);
        }

        private void record(int layer, NDArray scores, int[] positions) {
            float[] s = Arrays32.toFloats(scores);
            int t = positions.length;
            int heads = s.length / t;
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < t; i++) book.set(layer, h, positions[i], s[h * t + i]);
        }

        @Override
        public void close() {
            dropPending();
            buffers.close();
        }
    }
}
