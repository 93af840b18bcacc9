package io.kvgate.models.util;

import java.util.ArrayList;
import java.util.List;

/** A plain aligned text table (also valid Markdown), for CLI summaries and benchmark output. */
public final class TextTable {
    private final List<String> header;
    private final List<List<String>> rows = new ArrayList<>();

    public TextTable(String... header) {
        this.header = List.of(header);
    }

    public TextTable row(Object... cells) {
        List<String> r = new ArrayList<>();
        for (Object c : cells) r.add(c instanceof Double d ? String.format("%.4g", d) : String.valueOf(c));
        rows.add(r);
        return this;
    }

    @Override
    public String toString() {
        int[] w = new int[header.size()];
        for (int i = 0; i < w.length; i++) w[i] = header.get(i).length();
        for (List<String> r : rows) for (int i = 0; i < w.length && i < r.size(); i++) w[i] = Math.max(w[i], r.get(i).length());
        StringBuilder sb = new StringBuilder();
        line(sb, header, w);
        sb.append('|');
        for (int x : w) sb.append('-').append("-".repeat(x)).append("-|");
        sb.append('\n');
        for (List<String> r : rows) line(sb, r, w);
        return sb.toString();
    }

    private static void line(StringBuilder sb, List<String> cells, int[] w) {
        sb.append('|');
        for (int i = 0; i < w.length; i++) {
            String c = i < cells.size() ? cells.get(i) : "";
            sb.append(' ').append(c).append(" ".repeat(w[i] - c.length())).append(" |");
        }
        sb.append('\n');
    }
}
