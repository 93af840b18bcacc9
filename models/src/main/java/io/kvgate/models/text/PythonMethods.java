package io.kvgate.models.text;

import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELResolver;

import java.beans.FeatureDescriptor;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Python semantics for the str/list/dict methods chat templates call ({@code content.startswith('<x>')},
 * {@code .split('</think>')[-1]}, {@code .lstrip('\n')}, {@code d.get(k, default)}, …) and for step slices
 * ({@code py_slice}, written by {@link JinjaTranslator}). Jinjava would otherwise call Java's methods: missing
 * ({@code startswith}) or subtly different ({@code split} takes a regex and drops trailing empty strings).
 * Placed before Jinjava's own resolver.
 */
final class PythonMethods extends ELResolver {

    @Override
    public Object invoke(ELContext context, Object base, Object method, Class<?>[] paramTypes, Object[] params) {
        if (base == null || !(method instanceof String name)) return null;
        Object[] args = params == null ? new Object[0] : params;
        Object result;
        if (base instanceof String s) result = stringMethod(s, name, args);
        else if (base instanceof List<?> l) result = listMethod(l, name, args);
        else if (base instanceof Map<?, ?> m) result = mapMethod(m, name, args);
        else return null;
        if (result == NOT_HANDLED) return null;
        context.setPropertyResolved(true);
        return result;
    }

    private static final Object NOT_HANDLED = new Object();

    private static Object stringMethod(String s, String name, Object[] a) {
        return switch (name) {
            case "startswith" -> anyAffix(a[0], p -> s.startsWith(p));
            case "endswith" -> anyAffix(a[0], p -> s.endsWith(p));
            case "split" -> split(s, arg(a, 0), a.length > 1 ? ((Number) a[1]).intValue() : -1);
            case "rsplit" -> rsplit(s, arg(a, 0), a.length > 1 ? ((Number) a[1]).intValue() : -1);
            case "strip" -> rstrip(lstrip(s, arg(a, 0)), arg(a, 0));
            case "lstrip" -> lstrip(s, arg(a, 0));
            case "rstrip" -> rstrip(s, arg(a, 0));
            case "upper" -> s.toUpperCase(java.util.Locale.ROOT);
            case "lower" -> s.toLowerCase(java.util.Locale.ROOT);
            case "title" -> title(s);
            case "capitalize" -> s.isEmpty() ? s : s.substring(0, 1).toUpperCase(java.util.Locale.ROOT)
                    + s.substring(1).toLowerCase(java.util.Locale.ROOT);
            case "replace" -> replace(s, String.valueOf(a[0]), String.valueOf(a[1]),
                    a.length > 2 ? ((Number) a[2]).intValue() : -1);
            case "find" -> (long) s.indexOf(String.valueOf(a[0]));
            case "rfind" -> (long) s.lastIndexOf(String.valueOf(a[0]));
            case "count" -> (long) count(s, String.valueOf(a[0]));
            case "join" -> join(s, a[0]);
            case "splitlines" -> splitlines(s);
            case "isdigit" -> !s.isEmpty() && s.chars().allMatch(Character::isDigit);
            case "isspace" -> !s.isEmpty() && s.chars().allMatch(PythonMethods::isSpace);
            case "py_slice" -> sliceString(s, a);
            default -> NOT_HANDLED;
        };
    }

    private static Object listMethod(List<?> l, String name, Object[] a) {
        return switch (name) {
            case "py_slice" -> sliceList(l, a);
            case "index" -> (long) l.indexOf(a[0]);
            case "count" -> l.stream().filter(x -> java.util.Objects.equals(x, a[0])).count();
            default -> NOT_HANDLED;
        };
    }

    private static Object mapMethod(Map<?, ?> m, String name, Object[] a) {
        return switch (name) {
            case "get" -> a.length == 0 ? NOT_HANDLED : (m.containsKey(a[0]) ? m.get(a[0]) : (a.length > 1 ? a[1] : null));
            case "keys" -> new ArrayList<>(m.keySet());
            case "values" -> new ArrayList<>(m.values());
            default -> NOT_HANDLED;
        };
    }

    private static String arg(Object[] a, int i) {
        return a.length > i && a[i] != null ? String.valueOf(a[i]) : null;
    }

    private static boolean anyAffix(Object affix, java.util.function.Predicate<String> test) {
        if (affix instanceof Collection<?> c) return c.stream().anyMatch(x -> test.test(String.valueOf(x)));
        return test.test(String.valueOf(affix));
    }

    /** Python's whitespace for str.split()/strip() without arguments. */
    private static boolean isSpace(int c) {
        return Character.isWhitespace(c) || Character.isSpaceChar(c) || (c >= 0x1c && c <= 0x1f) || c == 0x85;
    }

    private static List<String> split(String s, String sep, int maxsplit) {
        List<String> out = new ArrayList<>();
        if (sep == null) { // runs of whitespace, no empty strings
            int i = 0;
            int n = s.length();
            while (true) {
                while (i < n && isSpace(s.charAt(i))) i++;
                if (i >= n) break;
                if (maxsplit >= 0 && out.size() == maxsplit) {
                    out.add(rstrip(s.substring(i), null));
                    break;
                }
                int j = i;
                while (j < n && !isSpace(s.charAt(j))) j++;
                out.add(s.substring(i, j));
                i = j;
            }
            return out;
        }
        if (sep.isEmpty()) throw new IllegalArgumentException("empty separator");
        int from = 0;
        while (maxsplit < 0 || out.size() < maxsplit) {
            int at = s.indexOf(sep, from);
            if (at < 0) break;
            out.add(s.substring(from, at));
            from = at + sep.length();
        }
        out.add(s.substring(from));
        return out;
    }

    private static List<String> splitlines(String s) {
        List<String> out = new ArrayList<>(List.of(s.split("\\r\\n|\\r|\\n", -1)));
        if (!out.isEmpty() && out.get(out.size() - 1).isEmpty()) out.remove(out.size() - 1); // no line after a final break
        return out;
    }

    private static List<String> rsplit(String s, String sep, int maxsplit) {
        if (sep == null || maxsplit < 0) return split(s, sep, maxsplit);
        List<String> out = new ArrayList<>();
        int to = s.length();
        while (out.size() < maxsplit) {
            int at = s.lastIndexOf(sep, to - sep.length());
            if (at < 0) break;
            out.add(0, s.substring(at + sep.length(), to));
            to = at;
        }
        out.add(0, s.substring(0, to));
        return out;
    }

    private static String lstrip(String s, String chars) {
        int i = 0;
        while (i < s.length() && strips(s.charAt(i), chars)) i++;
        return s.substring(i);
    }

    private static String rstrip(String s, String chars) {
        int j = s.length();
        while (j > 0 && strips(s.charAt(j - 1), chars)) j--;
        return s.substring(0, j);
    }

    private static boolean strips(char c, String chars) {
        return chars == null ? isSpace(c) : chars.indexOf(c) >= 0;
    }

    private static String title(String s) {
        StringBuilder sb = new StringBuilder(s.length());
        boolean prevCased = false;
        for (char c : s.toCharArray()) {
            sb.append(prevCased ? Character.toLowerCase(c) : Character.toUpperCase(c));
            prevCased = Character.isLetter(c);
        }
        return sb.toString();
    }

    private static String replace(String s, String old, String neu, int count) {
        if (count < 0) return s.replace(old, neu);
        StringBuilder sb = new StringBuilder();
        int from = 0;
        for (int k = 0; k < count; k++) {
            int at = s.indexOf(old, from);
            if (at < 0) break;
            sb.append(s, from, at).append(neu);
            from = at + old.length();
        }
        return sb.append(s.substring(from)).toString();
    }

    private static int count(String s, String sub) {
        if (sub.isEmpty()) return s.length() + 1;
        int c = 0;
        for (int at = s.indexOf(sub); at >= 0; at = s.indexOf(sub, at + sub.length())) c++;
        return c;
    }

    private static String join(String sep, Object items) {
        List<String> parts = new ArrayList<>();
        if (items instanceof Iterable<?> it) it.forEach(x -> parts.add(String.valueOf(x)));
        else parts.add(String.valueOf(items));
        return String.join(sep, parts);
    }

    /** Python's slice.indices: the index sequence of [start:stop:step] over a sequence of length len. */
    private static int[] sliceIndices(int len, Object[] a) {
        int step = a.length > 2 && a[2] != null ? ((Number) a[2]).intValue() : 1;
        if (step == 0) throw new IllegalArgumentException("slice step cannot be zero");
        int start;
        int stop;
        if (step > 0) {
            start = a[0] == null ? 0 : clamp(((Number) a[0]).intValue(), len, 0, len);
            stop = a[1] == null ? len : clamp(((Number) a[1]).intValue(), len, 0, len);
        } else {
            start = a[0] == null ? len - 1 : clamp(((Number) a[0]).intValue(), len, -1, len - 1);
            stop = a[1] == null ? -1 : clamp(((Number) a[1]).intValue(), len, -1, len - 1);
        }
        List<Integer> idx = new ArrayList<>();
        for (int i = start; step > 0 ? i < stop : i > stop; i += step) idx.add(i);
        return idx.stream().mapToInt(Integer::intValue).toArray();
    }

    private static int clamp(int i, int len, int lo, int hi) {
        if (i < 0) i += len;
        return Math.max(lo, Math.min(hi, i));
    }

    private static List<Object> sliceList(List<?> l, Object[] a) {
        List<Object> out = new ArrayList<>();
        for (int i : sliceIndices(l.size(), a)) out.add(l.get(i));
        return out;
    }

    private static String sliceString(String s, Object[] a) {
        StringBuilder sb = new StringBuilder();
        for (int i : sliceIndices(s.length(), a)) sb.append(s.charAt(i));
        return sb.toString();
    }

    // The remaining resolver operations are left to Jinjava's own resolver.

    @Override
    public Object getValue(ELContext context, Object base, Object property) {
        return null;
    }

    @Override
    public Class<?> getType(ELContext context, Object base, Object property) {
        return null;
    }

    @Override
    public void setValue(ELContext context, Object base, Object property, Object value) {}

    @Override
    public boolean isReadOnly(ELContext context, Object base, Object property) {
        return false;
    }

    @Override
    public Iterator<FeatureDescriptor> getFeatureDescriptors(ELContext context, Object base) {
        return null;
    }

    @Override
    public Class<?> getCommonPropertyType(ELContext context, Object base) {
        return null;
    }
}
