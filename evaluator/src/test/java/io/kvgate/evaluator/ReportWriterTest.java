package io.kvgate.evaluator;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ReportWriterTest {
    @TempDir
    Path dir;

    private static EvalResults sample() {
        List<ItemResult> items = new ArrayList<>();
        for (double r : new double[] {0.3, 0.5}) {
            items.add(new ItemResult("p1", "passkey", "full", r, true, 1, 0, 1000, 1000, 5, 1, " 12345."));
            items.add(new ItemResult("p2", "passkey", "full", r, true, 1, 0, 1000, 1000, 5, 1, " 54321."));
            items.add(new ItemResult("p1", "passkey", "kvzip", r, true, 1, 0.01, (long) (1000 * r), 1000, 9, 1, " 12345."));
            items.add(new ItemResult("p2", "passkey", "kvzip", r, r > 0.4, 0.5, 0.2, (long) (1000 * r), 1000, 9, 1, " 5x321."));
            items.add(new ItemResult("r1", "repeat", "kvzip", r, false, 0.8, 0.3, (long) (1000 * r), 1000, 9, 1, "abc"));
        }
        List<ResultRow> rows = Evaluation.aggregate(items);
        EvalResults.Setup setup = new EvalResults.Setup("m", "fp", null, List.of("full", "kvzip"), List.of(0.3, 0.5),
                "[global]", "4 sinks", 2048, 3);
        return new EvalResults(rows, items, List.of("line 3: bad"), setup);
    }

    @Test
    void writesAllOutputsWithAggregatedRows() throws Exception {
        EvalResults results = sample();
        ReportWriter.write(dir, results);
        List<String> csv = Files.readAllLines(dir.resolve("results.csv"));
        assertTrue(csv.get(0).startsWith("task,policy,ratio,n,accuracy,char_match,kl,kv_bytes"), csv.get(0));
        assertEquals(1 + 6, csv.size(), String.join("\n", csv));
        assertTrue(csv.contains("passkey,kvzip,0.3,2,0.5,,0.105,300,1000,0.3,9,1"), String.join("\n", csv));
        assertTrue(csv.contains("repeat,kvzip,0.5,1,0,0.8,0.3,500,1000,0.5,9,1"), String.join("\n", csv));
        String md = Files.readString(dir.resolve("report.md"));
        assertTrue(md.contains("## passkey (n = 2)") && md.contains("## repeat (n = 1)"), md);
        assertTrue(md.contains("| kvzip") && md.contains("50.0%"), md);
        assertTrue(md.contains("line 3: bad"), md);
        String json = Files.readString(dir.resolve("results.json"));
        assertTrue(json.contains("\"char_match\" : null") && json.contains("\"problems\""), json);
        BufferedImage png = ImageIO.read(dir.resolve("accuracy.png").toFile());
        assertEquals(800, png.getHeight(), "one 400-pixel panel per task kind");
        try (var files = Files.list(dir)) {
            assertEquals(4, files.count(), "no temp leftovers");
        }
    }
}
