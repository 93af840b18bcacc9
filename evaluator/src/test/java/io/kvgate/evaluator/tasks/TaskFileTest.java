package io.kvgate.evaluator.tasks;

import io.kvgate.models.KvgateException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TaskFileTest {
    @TempDir
    Path dir;

    @Test
    void malformedLinesAreReportedWithLineNumbersAndTheRestIsKept() throws Exception {
        Path f = dir.resolve("tasks.jsonl");
        Files.writeString(f, String.join("\n",
                "{\"id\":\"a\",\"task\":\"passkey\",\"context\":\"<|im_start|>x<|im_end|>\",\"query\":\"q\",\"answer\":\" 1.\"}",
                "{not json",
                "",
                "{\"id\":\"b\",\"task\":\"kv\",\"context\":\"c\",\"query\":\"q\"}",
                "{\"id\":\"c\",\"task\":\"kv\",\"context\":\"c\",\"query\":\"q\",\"answer\":7}",
                "[1,2]",
                "{\"id\":\"a\",\"task\":\"kv\",\"context\":\"c\",\"query\":\"q\",\"answer\":\"x\"}",
                "{\"id\":\"d\",\"task\":\"kv\",\"context\":\"c\",\"query\":\"q2\",\"answer\":\"y\"}") + "\n");
        TaskFile.Loaded loaded = TaskFile.read(f);
        assertEquals(List.of("a", "d"), loaded.tasks().stream().map(Task::id).toList());
        assertEquals(8, loaded.tasks().get(1).line());
        assertEquals(5, loaded.problems().size(), loaded.problems().toString());
        assertTrue(loaded.problems().get(0).contains(":2: not valid JSON"), loaded.problems().get(0));
        assertTrue(loaded.problems().get(1).contains(":4: missing field 'answer'"), loaded.problems().get(1));
        assertTrue(loaded.problems().get(2).contains(":5: field 'answer' must be a string"), loaded.problems().get(2));
        assertTrue(loaded.problems().get(3).contains(":6: expected a JSON object"), loaded.problems().get(3));
        assertTrue(loaded.problems().get(4).contains(":7: duplicate id 'a'"), loaded.problems().get(4));
    }

    @Test
    void aFileWithoutAnyValidTaskIsAnError() throws Exception {
        Path f = dir.resolve("bad.jsonl");
        Files.writeString(f, "oops\n");
        KvgateException e = assertThrows(KvgateException.class, () -> TaskFile.read(f));
        assertTrue(e.getMessage().contains("holds no valid task"), e.getMessage());
        assertThrows(KvgateException.class, () -> TaskFile.read(dir.resolve("missing.jsonl")));
    }

    @Test
    void generatedSuitesRoundTripThroughJsonl() throws Exception {
        List<Task> tasks = TaskGenerator.small(7).generate(Map.of("kv", 3));
        Path f = dir.resolve("gen.jsonl");
        Files.writeString(f, TaskFile.toJsonl(tasks));
        List<Task> back = TaskFile.read(f).tasks();
        assertEquals(tasks.size(), back.size());
        for (int i = 0; i < tasks.size(); i++) {
            assertEquals(tasks.get(i).context(), back.get(i).context());
            assertEquals(tasks.get(i).answer(), back.get(i).answer());
        }
    }
}
