package io.kvgate.evaluator.tasks;

import io.kvgate.models.KvgateException;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

/**
 * Seeded passkey / key-value / repeat suites in the tiny model's formats (../shared/TASKS.md). The same seed,
 * sizes and filler always give the same tasks; sizes can be shrunk for fast tests.
 *
 * @param seed          random seed
 * @param filler        prose to pad with
 * @param passkeyFiller filler length range of passkey contexts, in characters (TASKS.md: 100–600)
 * @param kvPairs       range of key-value pairs per context (TASKS.md: 4–16)
 * @param repeatChars   range of repeat contexts, in characters (TASKS.md: 50–340)
 */
public record TaskGenerator(long seed, Filler filler, int[] passkeyFiller, int[] kvPairs, int[] repeatChars) {
    public static final String IM_START = "<|im_start|>";
    public static final String IM_END = "<|im_end|>";
    public static final List<String> KINDS = List.of("passkey", "kv", "repeat");
    public static final int DEFAULT_COUNT = 20;

    /** The ranges of TASKS.md with the bundled filler. */
    public static TaskGenerator standard(long seed) {
        return new TaskGenerator(seed, Filler.bundled(), new int[] {100, 600}, new int[] {4, 16}, new int[] {50, 340});
    }

    /** Short contexts for fast tests. */
    public static TaskGenerator small(long seed) {
        return new TaskGenerator(seed, Filler.bundled(), new int[] {100, 250}, new int[] {4, 8}, new int[] {50, 150});
    }

    /**
     * Parses {@code passkey,kv,repeat:N} (N items of every kind) or {@code passkey:20,kv:10} (per kind;
     * a kind without a count gets {@value #DEFAULT_COUNT}).
     */
    public static Map<String, Integer> parseSuites(String spec) {
        String[] items = spec.split(",");
        Map<String, Integer> out = new LinkedHashMap<>();
        boolean onlyLastCounted = items.length > 1 && items[items.length - 1].contains(":");
        for (int i = 0; i < items.length - 1; i++) onlyLastCounted &= !items[i].contains(":");
        Integer shared = null;
        if (onlyLastCounted) shared = count(items[items.length - 1].substring(items[items.length - 1].indexOf(':') + 1), spec);
        for (String item : items) {
            String s = item.strip();
            if (s.isEmpty()) continue;
            int colon = s.indexOf(':');
            String kind = colon < 0 ? s : s.substring(0, colon);
            int n = shared != null ? shared : colon < 0 ? DEFAULT_COUNT : count(s.substring(colon + 1), spec);
            if (!KINDS.contains(kind)) throw new KvgateException("--generate " + spec + ": unknown suite '" + kind + "' (expected passkey, kv or repeat)");
            out.put(kind, n);
        }
        if (out.isEmpty()) throw new KvgateException("--generate is empty (expected e.g. passkey,kv,repeat:20)");
        return out;
    }

    private static int count(String s, String spec) {
        try {
            int n = Integer.parseInt(s.strip());
            if (n < 1) throw new NumberFormatException();
            return n;
        } catch (NumberFormatException e) {
            throw new KvgateException("--generate " + spec + ": count '" + s + "' is not a positive integer");
        }
    }

    /** Generates the suites, kinds in order; each kind draws from its own seeded stream. */
    public List<Task> generate(Map<String, Integer> suites) {
        List<Task> out = new ArrayList<>();
        suites.forEach((kind, n) -> {
            Random r = new Random(seed * 31 + kind.hashCode());
            for (int i = 0; i < n; i++) {
                String id = kind + "-" + seed + "-" + i;
                out.add(switch (kind) {
                    case "passkey" -> passkey(r, id);
                    case "kv" -> keyValue(r, id);
                    case "repeat" -> repeat(r, id);
                    default -> throw new KvgateException("unknown suite '" + kind + "'");
                });
            }
        });
        return out;
    }

    Task passkey(Random r, String id) {
        String text = filler.take(r, between(r, passkeyFiller));
        int cut = r.nextInt(text.length() + 1);
        String key = digits(r, 5);
        String context = IM_START + text.substring(0, cut) + "\nThe pass key is " + key + ". Remember it. " + key
                + " is the pass key.\n" + text.substring(cut) + IM_END;
        return new Task(id, "passkey", context, "\nWhat is the pass key? The pass key is", " " + key + ".", 0);
    }

    Task keyValue(Random r, String id) {
        int pairs = between(r, kvPairs);
        Set<String> keys = new LinkedHashSet<>();
        while (keys.size() < pairs) keys.add(letters(r, 4 + r.nextInt(4)));
        List<String> keyList = new ArrayList<>(keys);
        List<String> values = new ArrayList<>();
        StringBuilder sb = new StringBuilder(IM_START);
        for (String k : keyList) {
            String v = digits(r, 6);
            values.add(v);
            sb.append(k).append(": ").append(v).append('\n');
            if (r.nextBoolean()) sb.append(filler.take(r, 10 + r.nextInt(41)).replace('\n', ' ')).append('\n');
        }
        sb.append(IM_END);
        int asked = r.nextInt(pairs);
        return new Task(id, "kv", sb.toString(), "\nQ: " + keyList.get(asked) + "? A:", " " + values.get(asked) + "\n", 0);
    }

    Task repeat(Random r, String id) {
        String text = filler.take(r, between(r, repeatChars)).strip();
        return new Task(id, "repeat", IM_START + text + IM_END, "\nRepeat the previous context:\n", text, 0);
    }

    private static int between(Random r, int[] range) {
        return range[0] + r.nextInt(range[1] - range[0] + 1);
    }

    private static String digits(Random r, int n) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < n; i++) sb.append((char) ('0' + r.nextInt(10)));
        return sb.toString();
    }

    private static String letters(Random r, int n) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < n; i++) sb.append((char) ('a' + r.nextInt(26)));
        return sb.toString();
    }
}
