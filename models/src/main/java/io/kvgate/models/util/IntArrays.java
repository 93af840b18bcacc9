package io.kvgate.models.util;

import java.util.List;

/** Int arrays joined end to end (token ids, positions, staged device data). */
public final class IntArrays {
    private IntArrays() {}

    public static int[] concat(int[]... parts) {
        return concat(List.of(parts));
    }

    public static int[] concat(List<int[]> parts) {
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
}
