package io.kvgate.evaluator.tasks;

import io.kvgate.models.KvgateException;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TaskGeneratorTest {
    @Test
    void formatsFollowTasksMd() {
        Map<String, Integer> suites = new LinkedHashMap<>();
        suites.put("passkey", 20);
        suites.put("kv", 20);
        suites.put("repeat", 20);
        List<Task> tasks = TaskGenerator.standard(3).generate(suites);
        assertEquals(60, tasks.size());
        Pattern passkey = Pattern.compile("\\nThe pass key is (\\d{5})\\. Remember it\\. \\1 is the pass key\\.\\n");
        for (Task t : tasks) {
            assertTrue(t.context().startsWith("<|im_start|>") && t.context().endsWith("<|im_end|>"), t.context());
            switch (t.task()) {
                case "passkey" -> {
                    Matcher m = passkey.matcher(t.context());
                    assertTrue(m.find(), t.context());
                    assertEquals(" " + m.group(1) + ".", t.answer());
                    assertEquals("\nWhat is the pass key? The pass key is", t.query());
                    int filler = t.context().length() - m.group().length() - "<|im_start|><|im_end|>".length();
                    assertTrue(filler >= 100 && filler <= 600, "filler " + filler);
                }
                case "kv" -> {
                    String key = t.query().substring(4, t.query().length() - 4);
                    assertTrue(t.query().matches("\\nQ: [a-z]{4,7}\\? A:"), t.query());
                    assertTrue(t.answer().matches(" \\d{6}\\n"), t.answer());
                    assertTrue(t.context().contains("\n" + key + ":" + t.answer()) || t.context().contains(">" + key + ":" + t.answer()), t.context());
                }
                case "repeat" -> {
                    assertEquals("<|im_start|>" + t.answer() + "<|im_end|>", t.context());
                    assertEquals("\nRepeat the previous context:\n", t.query());
                    assertTrue(t.answer().length() <= 340 && t.answer().length() >= 30, t.answer());
                }
                default -> throw new AssertionError(t.task());
            }
        }
    }

    @Test
    void sameSeedSameTasksOtherSeedOthers() {
        Map<String, Integer> s = Map.of("passkey", 5);
        assertEquals(TaskGenerator.standard(1).generate(s), TaskGenerator.standard(1).generate(s));
        assertNotEquals(TaskGenerator.standard(1).generate(s), TaskGenerator.standard(2).generate(s));
    }

    @Test
    void parsesSuiteSpecs() {
        assertEquals(Map.of("passkey", 5, "kv", 5, "repeat", 5), TaskGenerator.parseSuites("passkey,kv,repeat:5"));
        assertEquals(Map.of("passkey", 3, "kv", TaskGenerator.DEFAULT_COUNT), TaskGenerator.parseSuites("passkey:3,kv"));
        assertThrows(KvgateException.class, () -> TaskGenerator.parseSuites("passkey,needle"));
        assertThrows(KvgateException.class, () -> TaskGenerator.parseSuites("passkey:0"));
    }
}
