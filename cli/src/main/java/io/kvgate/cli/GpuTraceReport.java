package io.kvgate.cli;

import io.kvgate.models.GpuTrace;
import io.kvgate.models.util.TextTable;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** Tables of {@link GpuTrace} summaries for the bench commands: the GPU's time by kernel, and two runs side by side. */
final class GpuTraceReport {
    private GpuTraceReport() {}

    /**
     * The GPU's work per unit ({@code per} units traced, e.g. decode steps): busy time against {@code wallMs} for as many
     * units timed without the trace (tracing slows the host), launches, and the {@code top} kernels by time.
     */
    static String perUnit(GpuTrace.Summary s, double per, String unit, double wallMs, int top) {
        StringBuilder sb = new StringBuilder();
        sb.append(new TextTable("GPU per " + unit, "value")
                .row("GPU busy ms (kernels, copies)", fmt(s.busyNs() / per / 1e6))
                .row("wall ms (untraced run)", fmt(wallMs / per))
                .row("GPU busy share of wall", String.format(Locale.ROOT, "%.0f%%", 100 * s.busyNs() / 1e6 / wallMs))
                .row("launches (kernels, copies, memsets)", fmt(s.launches() / per)));
        TextTable t = new TextTable("kernel", "calls/" + unit, "GPU µs/" + unit, "µs/call");
        Map<String, long[]> byName = byShortName(s);
        byName.entrySet().stream().limit(top).forEach(e -> t.row(e.getKey(), fmt(e.getValue()[0] / per),
                fmt(e.getValue()[1] / per / 1e3), fmt(e.getValue()[1] / 1e3 / e.getValue()[0])));
        sb.append(t);
        return sb.toString();
    }

    /** Two runs' GPU time side by side, the {@code top} kernels whose time differs most first. */
    static String compare(String labelA, GpuTrace.Summary a, String labelB, GpuTrace.Summary b, int top) {
        Map<String, long[]> ka = byShortName(a), kb = byShortName(b);
        List<String> names = new ArrayList<>(ka.keySet());
        kb.keySet().stream().filter(n -> !ka.containsKey(n)).forEach(names::add);
        names.sort((x, y) -> Long.compare(Math.abs(delta(kb, ka, y)), Math.abs(delta(kb, ka, x))));
        TextTable t = new TextTable("kernel", labelA + " calls", labelA + " ms", labelB + " calls", labelB + " ms", "difference ms");
        t.row("(GPU busy)", fmt(a.launches()), ms(a.busyNs()), fmt(b.launches()), ms(b.busyNs()), ms(b.busyNs() - a.busyNs()));
        for (String n : names.subList(0, Math.min(top, names.size()))) {
            long[] x = ka.getOrDefault(n, new long[2]), y = kb.getOrDefault(n, new long[2]);
            t.row(n, x[0], ms(x[1]), y[0], ms(y[1]), ms(y[1] - x[1]));
        }
        return t.toString();
    }

    private static long delta(Map<String, long[]> b, Map<String, long[]> a, String name) {
        return b.getOrDefault(name, new long[2])[1] - a.getOrDefault(name, new long[2])[1];
    }

    /** {count, total ns} per shortened kernel name, largest total first. */
    static Map<String, long[]> byShortName(GpuTrace.Summary s) {
        Map<String, long[]> m = new LinkedHashMap<>();
        for (GpuTrace.Kernel k : s.kernels()) {
            long[] v = m.computeIfAbsent(shortName(k.name()), x -> new long[2]);
            v[0] += k.count();
            v[1] += k.totalNs();
        }
        List<Map.Entry<String, long[]>> entries = new ArrayList<>(m.entrySet());
        entries.sort((x, y) -> Long.compare(y.getValue()[1], x.getValue()[1]));
        Map<String, long[]> sorted = new LinkedHashMap<>();
        entries.forEach(e -> sorted.put(e.getKey(), e.getValue()));
        return sorted;
    }

    /**
     * A demangled kernel name without what makes it long: "void ", anonymous namespaces, the parameter list; at most 90
     * characters (template arguments stay where they fit: they tell torch's elementwise kernels apart).
     */
    static String shortName(String name) {
        String s = name.startsWith("void ") ? name.substring(5) : name;
        s = s.replace("(anonymous namespace)::", "");
        int depth = 0, cut = s.length();
        for (int i = 0; i < s.length(); i++) { // the parameter list: the first '(' outside template brackets
            char c = s.charAt(i);
            if (c == '<') depth++;
            else if (c == '>') depth--;
            else if (c == '(' && depth == 0 && i > 0) {
                cut = i;
                break;
            }
        }
        s = s.substring(0, cut).trim();
        return s.length() <= 90 ? s : s.substring(0, 89) + "…";
    }

    private static String ms(long ns) {
        return String.format(Locale.ROOT, "%.3f", ns / 1e6);
    }

    private static String fmt(double v) {
        return v >= 100 ? String.format(Locale.ROOT, "%.0f", v) : String.format(Locale.ROOT, "%.2f", v);
    }
}
