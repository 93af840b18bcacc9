package io.kvgate.cli.config;

/** An interval of allowed numbers, printed the way errors name it: "(0, 1]", ">= 1". */
record Range(double min, boolean minInclusive, double max, boolean maxInclusive) {
    static final Range RATIO = new Range(0, false, 1, true);

    static Range atLeast(double min) {
        return new Range(min, true, Double.POSITIVE_INFINITY, false);
    }

    static Range greaterThan(double min) {
        return new Range(min, false, Double.POSITIVE_INFINITY, false);
    }

    boolean contains(double v) {
        if (Double.isNaN(v)) return false;
        boolean lo = minInclusive ? v >= min : v > min;
        boolean hi = maxInclusive ? v <= max : v < max;
        return lo && hi;
    }

    @Override
    public String toString() {
        if (max == Double.POSITIVE_INFINITY) return (minInclusive ? ">= " : "> ") + fmt(min);
        return (minInclusive ? "[" : "(") + fmt(min) + ", " + fmt(max) + (maxInclusive ? "]" : ")");
    }

    private static String fmt(double v) {
        return v == Math.rint(v) && Math.abs(v) < 1e15 ? Long.toString((long) v) : Double.toString(v);
    }
}
