package io.kvgate.evaluator.policy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import io.kvgate.models.ForwardObserver;
import io.kvgate.models.FusedSinkGates;
import io.kvgate.models.KvCache;

import java.util.ArrayList;
import java.util.List;

import static io.kvgate.models.util.IntArrays.concat;

/**
 * Fast KVzip's gates (ALGORITHM.md §4): a token's score depends only on its own attention-input hidden
 * state, so it is computed once, as the token enters the cache. The hidden states are buffered and scored in one
 * batched computation for all gated layers ({@link LayerGates#scoreLayers}): during prefill once the chunk has passed
 * the last gated layer (or the buffer reaches {@link #PREFILL_BUFFER_BYTES}), during decoding once per decode interval
 * (the runtime has it scored every 128 tokens), never re-scored. Per layer, the gate's ~6-20 ops cost ~95 µs of host
 * time on a GPU whatever the chunk (BENCHMARKS.md), the batch a fixed ~20 ops for all layers. Scores stay on the device
 * ({@link PendingScores}) until an eviction needs them and then come back in one copy: a host read waits for the
 * GPU, so nothing is read when nothing is evicted (ratio 1, decoding within budget).
 */
public final class GateScorer implements Scorer {
    /** Buffered prefill hidden states (bytes) that make the layers buffered so far scored at once. */
    static final long PREFILL_BUFFER_BYTES = 64L << 20;

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
        private final List<List<NDArray>> pendingX = new ArrayList<>();       // hidden states to score, per layer
        private final List<List<int[]>> pendingPositions = new ArrayList<>();
        private final List<NDArray> pendingStacks = new ArrayList<>();        // decode steps run as one graph: [L, T, hidden]
        private final List<int[]> pendingStackPositions = new ArrayList<>();
        private final PendingScores pendingScores;                            // device scores [H, T] not read yet
        private boolean decoding;
        private long bufferedBytes;                                           // prefill: of pendingX
        private final int lastGated;
        private final ai.djl.Device device;
        private final FusedSinkGates fused;                                   // the model's, or null
        private final FusedSinkGates.Bound wholeChunkGates;                   // the gates bound for whole-model chunks, or null

        Session(SequenceInfo seq) {
            device = seq.model().device();
            fused = seq.model().fusedSinkGates();
            int layers = seq.model().config().numLayers();
            book = new PositionBook(layers, seq.model().config().numKvHeads(), gates.layers());
            buffers = seq.model().manager().newSubManager();
            pendingScores = new PendingScores(buffers, onHostRead);
            int[] gated = gates.layers();
            lastGated = gated[gated.length - 1];
            for (int l = 0; l < layers; l++) {
                pendingX.add(new ArrayList<>());
                pendingPositions.add(new ArrayList<>());
            }
            wholeChunkGates = fused == null ? null
                    : gates.bindFused(gated, layers, device, seq.model().dtype(), fused); // owned by the gates
        }

        @Override
        public ForwardObserver observer(KvCache cache) {
            return new ForwardObserver() {
                @Override
                public void attentionInput(int layer, NDArray x, int[] positions) {
                    if (!book.scored(layer)) return;
                    // buffered: scored in one batch for all layers (layerOutput, scoreBuffered)
                    x.attach(buffers); // taken over, not copied: no device op per layer and step
                    pendingX.get(layer).add(x);
                    pendingPositions.get(layer).add(positions.clone());
                    if (!decoding) bufferedBytes += x.size() * x.getDataType().getNumOfBytes();
                }

                @Override
                public void layerOutput(int layer, NDArray out) {
                    // after the layer, not at its attention input: Model's own layers still use that array then
                    if (!decoding && (layer >= lastGated || bufferedBytes >= PREFILL_BUFFER_BYTES)) scorePending();
                }

                @Override
                public boolean attentionInputsOnly() {
                    return true;
                }

                @Override
                public FusedSinkGates.Bound wholeChunkGates() {
                    return decoding ? null : wholeChunkGates; // decode steps hand their inputs over (scored per interval)
                }

                @Override
                public void gateScores(int[] layers, NDArray scores, int[] positions) {
                    scorePending(); // anything buffered before first: scores are kept in the order they were computed
                    flushStacks();
                    keepScores(layers, scores, positions);
                }

                @Override
                public void attentionInputs(NDArray all, int[] positions) {
                    all.attach(buffers); // taken over whole: no device op per layer and step
                    pendingStacks.add(all);
                    pendingStackPositions.add(positions.clone());
                    // a whole prefill chunk (one call for all layers): scored now, as a layer-by-layer chunk is after
                    // its last gated layer, so that no chunk's inputs wait in memory for the next one
                    if (!decoding) flushStacks();
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

        /** Scores every buffered hidden state on the device (nothing is read back). */
        @Override
        public void scoreBuffered() {
            scorePending();
            flushStacks();
            dropBuffered();
        }

        /**
         * Scores the per-layer buffers: the layers' hidden states stacked into [n, N, hidden] and scored in one batch
         * when every layer holds the same positions (a prefill chunk, a decode interval), else layer by layer.
         */
        private void scorePending() {
            int[] layers = java.util.stream.IntStream.range(0, pendingX.size()).filter(l -> !pendingX.get(l).isEmpty()).toArray();
            if (layers.length == 0) return;
            int[][] positions = new int[layers.length][];
            boolean samePositions = true;
            for (int i = 0; i < layers.length; i++) {
                positions[i] = concat(pendingPositions.get(layers[i]));
                samePositions &= java.util.Arrays.equals(positions[0], positions[i]);
            }
            try (NDManager scope = buffers.newSubManager()) {
                NDList xs = new NDList();
                for (int i = 0; i < layers.length; i++) {
                    List<NDArray> parts = pendingX.get(layers[i]);
                    NDArray x = parts.size() == 1 ? parts.get(0) : NDArrays.concat(new NDList(parts), 0);
                    if (parts.size() > 1) x.attach(scope);
                    if (samePositions) xs.add(x);
                    else keepScores(layers[i], gates.score(layers[i], x), positions[i]);
                }
                if (samePositions) {
                    NDArray stacked = xs.size() == 1 ? xs.get(0).expandDims(0) : NDArrays.stack(xs, 0); // [n, N, hidden]
                    stacked.attach(scope);
                    keepScores(layers, gates.scoreLayers(layers, stacked, fused), positions[0]);
                }
            }
            for (int l : layers) {
                pendingX.get(l).forEach(NDArray::close);
                pendingX.get(l).clear();
                pendingPositions.get(l).clear();
            }
            bufferedBytes = 0;
        }

        /** Scores the buffered all-layer attention inputs [L, N, hidden] (graph decode steps): one batch of the gated rows. */
        private void flushStacks() {
            if (pendingStacks.isEmpty()) return;
            scorePending(); // earlier per-layer inputs first: scores are kept in the order they were computed
            int[] positions = concat(pendingStackPositions);
            int[] gated = java.util.stream.IntStream.range(0, pendingX.size()).filter(book::scored).toArray();
            try (NDManager scope = buffers.newSubManager()) {
                NDArray stacked = pendingStacks.size() > 1 ? NDArrays.concat(new NDList(pendingStacks), 1) : pendingStacks.get(0);
                if (pendingStacks.size() > 1) stacked.attach(scope);
                NDArray rows = stacked;
                if (gated.length < stacked.getShape().get(0)) {
                    NDArray index = scope.create(java.util.Arrays.stream(gated).asLongStream().toArray());
                    rows = stacked.get(new ai.djl.ndarray.index.NDIndex("{}", index));
                    rows.attach(scope);
                }
                keepScores(gated, gates.scoreLayers(gated, rows, fused), positions);
            }
            pendingStacks.forEach(NDArray::close);
            pendingStacks.clear();
            pendingStackPositions.clear();
        }

        private void keepScores(int layer, NDArray scores, int[] positions) {
            pendingScores.add(layer, scores, positions);
        }

        private void keepScores(int[] layers, NDArray scores, int[] positions) {
            pendingScores.add(layers, scores, positions);
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
            bufferedBytes = 0;
        }

        @Override
        public void close() {
            dropBuffered();
            pendingScores.close();
            buffers.close();
        }
    }
}
