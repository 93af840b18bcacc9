package io.kvgate.trainer.fit;

import java.util.Arrays;

/** Rows of (x [D], target [H]) kept in memory, growing as needed. */
final class RowBuffer {
    final int hidden, heads;
    float[] x, target;
    int rows;

    RowBuffer(int hidden, int heads, int capacity) {
        this.hidden = hidden;
        this.heads = heads;
        this.x = new float[Math.max(1, capacity) * hidden];
        this.target = new float[Math.max(1, capacity) * heads];
    }

    void append(float[] bx, float[] bt, int r) {
        if ((rows + 1) * hidden > x.length) {
            x = Arrays.copyOf(x, x.length * 2);
            target = Arrays.copyOf(target, target.length * 2);
        }
        set(rows++, bx, bt, r);
    }

    void set(int slot, float[] bx, float[] bt, int r) {
        System.arraycopy(bx, r * hidden, x, slot * hidden, hidden);
        System.arraycopy(bt, r * heads, target, slot * heads, heads);
    }

    float[] xRows() {
        return rows * hidden == x.length ? x : Arrays.copyOf(x, rows * hidden);
    }

    float[] targetRows() {
        return rows * heads == target.length ? target : Arrays.copyOf(target, rows * heads);
    }
}
