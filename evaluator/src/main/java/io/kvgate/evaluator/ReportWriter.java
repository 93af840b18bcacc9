package io.kvgate.evaluator;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.kvgate.models.KvgateException;
import io.kvgate.models.util.AtomicFiles;
import io.kvgate.models.util.TextTable;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.markers.SeriesMarkers;

import javax.imageio.ImageIO;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Writes an evaluation's outputs into a directory, each file atomically: results.csv (one row per task ×
 * policy × ratio), results.json (setup, rows, items, problems), report.md (a table per task: policies ×
 * ratios) and accuracy.png (accuracy vs ratio, one line per policy, one panel per task).
 */
public final class ReportWriter {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private ReportWriter() {}

    /**
     * Writes the four files. Returns null, or why accuracy.png could not be drawn (a Java runtime without AWT's native
     * libraries, e.g. a stripped jlink image): the tables are written regardless.
     */
    public static String write(Path dir, EvalResults results) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new KvgateException("cannot create output directory " + dir + ": " + e.getMessage(), e);
        }
        AtomicFiles.writeString(dir.resolve("results.csv"), csv(results));
        AtomicFiles.writeString(dir.resolve("results.json"), json(results));
        AtomicFiles.writeString(dir.resolve("report.md"), markdown(results));
        BufferedImage png;
        try {
            png = plot(results);
        } catch (LinkageError e) { // UnsatisfiedLinkError / NoClassDefFoundError from AWT: no plot, everything else stands
            return "accuracy.png not written: this Java runtime cannot draw (" + e.getMessage() + ")";
        }
        AtomicFiles.write(dir.resolve("accuracy.png"), out -> ImageIO.write(png, "png", out));
        return null;
    }

    static String csv(EvalResults results) {
        StringBuilder sb = new StringBuilder(String.join(",", ResultRow.COLUMNS)).append('\n');
        for (ResultRow r : results.rows()) {
            sb.append(String.join(",", csvCell(r.task()), csvCell(r.policy()), num(r.ratio()), Integer.toString(r.n()),
                    num(r.accuracy()), num(r.charMatch()), num(r.kl()), num(r.kvBytes()), num(r.kvBytesFull()),
                    num(r.kvFraction()), num(r.prefillMillis()), num(r.decodeMillisPerToken()))).append('\n');
        }
        return sb.toString();
    }

    static String json(EvalResults results) {
        ObjectNode root = JSON.createObjectNode();
        root.set("setup", JSON.valueToTree(results.setup()));
        ArrayNode rows = root.putArray("rows");
        for (ResultRow r : results.rows()) {
            ObjectNode o = rows.addObject();
            o.put("task", r.task()).put("policy", r.policy()).put("ratio", r.ratio()).put("n", r.n())
                    .put("accuracy", r.accuracy()).put("kl", r.kl()).put("kv_bytes", r.kvBytes())
                    .put("kv_bytes_full", r.kvBytesFull()).put("kv_fraction", r.kvFraction())
                    .put("prefill_ms", r.prefillMillis()).put("decode_ms_per_token", r.decodeMillisPerToken());
            if (Double.isNaN(r.charMatch())) o.putNull("char_match");
            else o.put("char_match", r.charMatch());
        }
        root.set("items", JSON.valueToTree(results.items()));
        root.set("problems", JSON.valueToTree(results.problems()));
        try {
            return JSON.writeValueAsString(root) + "\n";
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    static String markdown(EvalResults results) {
        EvalResults.Setup s = results.setup();
        StringBuilder sb = new StringBuilder("# kvgate evaluation\n\n");
        sb.append("- model: `").append(s.model()).append("` (fingerprint ").append(s.fingerprint()).append(")\n");
        if (s.gates() != null) sb.append("- gates: `").append(s.gates()).append("`\n");
        sb.append("- protocol: query-agnostic (context prefilled and compressed before the query), greedy decoding\n");
        sb.append("- budget: ").append(s.budget()).append("; protection: ").append(s.window())
                .append("; prefill chunk ").append(s.prefillChunk()).append(" tokens\n");
        sb.append("- accuracy = exact-prefix match of the answer; KL = KL(full ‖ evicted) per position over query + answer, nats; "
                + "KV = measured bytes held after compression, as a share of the full cache\n");
        sb.append("- full keeps everything: its one run is shown under every ratio\n");
        sb.append("- wall time: ").append(s.seconds()).append(" s\n\n");
        List<Double> ratios = results.rows().stream().map(ResultRow::ratio).distinct().sorted().toList();
        for (String task : results.taskKinds()) {
            List<String> policies = results.rows().stream().filter(r -> r.task().equals(task)).map(ResultRow::policy).distinct().toList();
            int n = results.rows().stream().filter(r -> r.task().equals(task)).mapToInt(ResultRow::n).max().orElse(0);
            sb.append("## ").append(task).append(" (n = ").append(n).append(")\n\n");
            sb.append(table(results, task, policies, ratios, "accuracy", r -> pct(r.accuracy())));
            if (task.equals("repeat")) sb.append(table(results, task, policies, ratios, "char match", r -> pct(r.charMatch())));
            sb.append(table(results, task, policies, ratios, "KL", r -> String.format(Locale.ROOT, "%.4f", r.kl())));
            sb.append(table(results, task, policies, ratios, "KV kept", r -> pct(r.kvFraction())));
        }
        if (!results.problems().isEmpty()) {
            sb.append("## Problems\n\n");
            for (String p : results.problems()) sb.append("- ").append(p).append('\n');
        }
        return sb.toString();
    }

    private static String table(EvalResults results, String task, List<String> policies, List<Double> ratios,
                                String metric, java.util.function.Function<ResultRow, String> cell) {
        List<String> header = new ArrayList<>();
        header.add(metric);
        for (double r : ratios) header.add("r=" + num(r));
        TextTable t = new TextTable(header.toArray(new String[0]));
        for (String p : policies) {
            List<Object> cells = new ArrayList<>();
            cells.add(p);
            for (double r : ratios) cells.add(results.row(task, p, r).map(cell).orElse("–"));
            t.row(cells.toArray());
        }
        return t + "\n";
    }

    static BufferedImage plot(EvalResults results) {
        System.setProperty("java.awt.headless", "true");
        List<String> tasks = results.taskKinds();
        List<BufferedImage> panels = new ArrayList<>();
        for (String task : tasks) {
            XYChart chart = new XYChartBuilder().width(640).height(400).title("accuracy vs KV ratio: " + task)
                    .xAxisTitle("ratio of KV pairs kept").yAxisTitle("accuracy").build();
            chart.getStyler().setYAxisMin(0.0).setYAxisMax(1.0).setLegendVisible(true);
            List<String> policies = results.rows().stream().filter(r -> r.task().equals(task)).map(ResultRow::policy).distinct().toList();
            for (String p : policies) {
                List<ResultRow> rows = results.rows().stream().filter(r -> r.task().equals(task) && r.policy().equals(p)).toList();
                double[] x = rows.stream().mapToDouble(ResultRow::ratio).toArray();
                double[] y = rows.stream().mapToDouble(ResultRow::accuracy).toArray();
                chart.addSeries(p, x, y).setMarker(SeriesMarkers.CIRCLE);
            }
            panels.add(BitmapEncoder.getBufferedImage(chart));
        }
        int w = panels.stream().mapToInt(BufferedImage::getWidth).max().orElse(640);
        int h = panels.stream().mapToInt(BufferedImage::getHeight).sum();
        BufferedImage out = new BufferedImage(w, Math.max(h, 1), BufferedImage.TYPE_INT_RGB);
        Graphics2D g = out.createGraphics();
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, w, Math.max(h, 1));
        int y = 0;
        for (BufferedImage p : panels) {
            g.drawImage(p, 0, y, null);
            y += p.getHeight();
        }
        g.dispose();
        return out;
    }

    private static String pct(double v) {
        return Double.isNaN(v) ? "–" : String.format(Locale.ROOT, "%.1f%%", 100 * v);
    }

    private static String num(double v) {
        if (Double.isNaN(v)) return "";
        if (v == Math.rint(v) && Math.abs(v) < 1e15) return Long.toString((long) v);
        String g = String.format(Locale.ROOT, "%.6g", v);
        return g.contains("e") || !g.contains(".") ? g : g.replaceAll("0+$", "").replaceAll("\\.$", "");
    }

    private static String csvCell(String s) {
        return s.contains(",") || s.contains("\"") ? "\"" + s.replace("\"", "\"\"") + "\"" : s;
    }
}
