package io.kvgate.models;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** The ownership masks built on the device from each head's filled-row boundaries, against a row-by-row construction. */
class RaggedViewBatchTest {
    /** Layers of 3 heads: spare rows, a head that owns nothing, segments that touch (no spare rows), a full last row. */
    private static final int[][][] LAYERS = { // {starts [H + 1], filled ends [H]}
            {{0, 5, 9, 14}, {3, 9, 12}},   // head 1's filled rows end where head 2's segment starts
            {{0, 0, 4, 6}, {0, 2, 6}},     // head 0 holds no row, head 2 fills its segment to the last row
            {{0, 2, 4, 7}, {0, 4, 5}}};    // head 0 has rows but none filled

    @Test
    void ownershipMasksMarkExactlyEachHeadsFilledRows() {
        try (NDManager m = NDManager.newBaseManager(Device.cpu(), "PyTorch"); DeviceInts ints = new DeviceInts()) {
            int heads = 3;
            int[] slot = new int[LAYERS.length];
            for (int l = 0; l < LAYERS.length; l++) {
                int[] starts = LAYERS[l][0], ends = LAYERS[l][1];
                int[] table = new int[2 * (heads + 1)];
                System.arraycopy(starts, 0, table, 0, heads + 1);
                int[] tails = new int[heads];
                for (int h = 0; h < heads; h++) {
                    table[heads + 1 + h] = ends[h] - starts[h];
                    tails[h] = ends[h];
                }
                slot[l] = ints.views().add(heads, DataType.FLOAT32, starts[heads], table, tails);
            }
            ints.upload(m);
            for (int l = 0; l < LAYERS.length; l++) {
                int[] starts = LAYERS[l][0], ends = LAYERS[l][1];
                int rows = starts[heads];
                float[] want = new float[heads * rows];
                for (int h = 0; h < heads; h++)
                    for (int r = 0; r < rows; r++) want[h * rows + r] = r >= starts[h] && r < ends[h] ? 0f : Float.NEGATIVE_INFINITY;
                NDArray[] views = ints.views().take(slot[l], m);
                assertEquals(new ai.djl.ndarray.types.Shape(heads, 1, rows), views[0].getShape());
                assertArrayEquals(want, views[0].toFloatArray(), "layer " + l);
                assertArrayEquals(ends, views[2].toType(DataType.INT32, false).toIntArray(), "layer " + l + " tail rows");
            }
        }
    }

    @Test
    void boundariesAreAscendingDistinctAndSummedWhereTheyMeet() {
        RaggedViewBatch b = new RaggedViewBatch();
        b.add(2, DataType.FLOAT32, 6, new int[] {0, 3, 6, 3, 3, 0}, new int[] {3, 6});
        int[][] got = b.ownerBoundaries();
        assertArrayEquals(new int[] {0, 3}, got[0]); // head 0 ends where head 1 starts; head 1 ends at the last row
        assertArrayEquals(new int[] {1, -1 + 2}, got[1]);
    }
}
