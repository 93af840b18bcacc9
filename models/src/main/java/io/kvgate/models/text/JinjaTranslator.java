package io.kvgate.models.text;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Rewrites the few Jinja2 expressions Jinjava cannot parse into equivalents it can, touching only code inside
 * {@code {{ }}} and {@code {% %}} and never string literals:
 * <ul>
 *   <li>slices with a step, {@code x[::-1]}, become {@code x.py_slice(none, none, -1)} (evaluated by
 *       {@link PythonMethods});</li>
 *   <li>keyword-argument values are parenthesised, {@code namespace(i=xs|length - 1)} →
 *       {@code namespace(i=(xs|length - 1))}: Jinjava binds {@code i=xs|length} first and then subtracts.</li>
 * </ul>
 */
final class JinjaTranslator {
    private static final Pattern STEP_SLICE = Pattern.compile(
            "\\[\\s*(-?\\s*\\d+)?\\s*:\\s*(-?\\s*\\d+)?\\s*:\\s*(-?\\s*\\d+)?\\s*]");

    private JinjaTranslator() {}

    static String translate(String template) {
        StringBuilder out = new StringBuilder(template.length() + 64);
        int i = 0;
        int n = template.length();
        while (i < n) {
            int open = nextOpen(template, i);
            if (open < 0) {
                out.append(template, i, n);
                break;
            }
            out.append(template, i, open);
            char kind = template.charAt(open + 1);
            if (kind == '#') { // comment: copied as is
                int end = template.indexOf("#}", open + 2);
                end = end < 0 ? n : end + 2;
                out.append(template, open, end);
                i = end;
                continue;
            }
            String close = kind == '{' ? "}}" : "%}";
            int end = closeOf(template, open + 2, close);
            String code = template.substring(open + 2, end);
            out.append(template, open, open + 2).append(translateCode(code));
            i = end;
            if (kind == '%' && isRawStart(code)) { // {% raw %}...{% endraw %}: copied verbatim
                Matcher m = Pattern.compile("\\{%-?\\s*endraw\\s*-?%}").matcher(template);
                int rawEnd = m.find(end) ? m.start() : n;
                out.append(template, end, rawEnd);
                i = rawEnd;
            }
        }
        return out.toString();
    }

    private static int nextOpen(String s, int from) {
        for (int i = s.indexOf('{', from); i >= 0 && i + 1 < s.length(); i = s.indexOf('{', i + 1)) {
            char c = s.charAt(i + 1);
            if (c == '{' || c == '%' || c == '#') return i;
        }
        return -1;
    }

    /** Index of the closing delimiter (returned index points at it), skipping string literals and dict braces. */
    private static int closeOf(String s, int from, String close) {
        char quote = 0;
        int braces = 0;
        for (int i = from; i < s.length(); i++) {
            char c = s.charAt(i);
            if (quote != 0) {
                if (c == '\\') i++;
                else if (c == quote) quote = 0;
            } else if (c == '\'' || c == '"') {
                quote = c;
            } else if (braces == 0 && s.startsWith(close, i)) {
                return i;
            } else if (c == '{') {
                braces++;
            } else if (c == '}' && braces > 0) {
                braces--;
            }
        }
        return s.length();
    }

    private static boolean isRawStart(String code) {
        return code.replace("-", "").trim().equals("raw");
    }

    /** Translates one tag's code; string literals pass through untouched. */
    static String translateCode(String code) {
        StringBuilder out = new StringBuilder(code.length() + 16);
        StringBuilder plain = new StringBuilder();
        char quote = 0;
        for (int i = 0; i < code.length(); i++) {
            char c = code.charAt(i);
            if (quote != 0) {
                out.append(c);
                if (c == '\\' && i + 1 < code.length()) out.append(code.charAt(++i));
                else if (c == quote) quote = 0;
            } else if (c == '\'' || c == '"') {
                // Literals split the code into plain runs; slices never span a literal in practice.
                out.append(rewriteSlices(plain.toString()));
                plain.setLength(0);
                out.append(c);
                quote = c;
            } else {
                plain.append(c);
            }
        }
        out.append(rewriteSlices(plain.toString()));
        return parenthesiseKeywordArguments(out.toString());
    }

    private static String rewriteSlices(String plain) {
        Matcher m = STEP_SLICE.matcher(plain);
        StringBuilder sb = new StringBuilder();
        while (m.find()) {
            String repl = ".py_slice(" + arg(m.group(1)) + ", " + arg(m.group(2)) + ", " + arg(m.group(3)) + ")";
            m.appendReplacement(sb, Matcher.quoteReplacement(repl));
        }
        m.appendTail(sb);
        return sb.toString();
    }

    private static String arg(String g) {
        return g == null ? "none" : g.replace(" ", "");
    }

    /** {@code f(a=x - 1, b=y)} → {@code f(a=(x - 1), b=(y))}, inside call parentheses only. */
    private static String parenthesiseKeywordArguments(String code) {
        StringBuilder out = new StringBuilder(code.length() + 8);
        // Per open bracket: its kind, and whether a keyword value is open inside it.
        Deque<boolean[]> kwargOpen = new ArrayDeque<>();
        Deque<Character> brackets = new ArrayDeque<>();
        char quote = 0;
        for (int i = 0; i < code.length(); i++) {
            char c = code.charAt(i);
            if (quote != 0) {
                out.append(c);
                if (c == '\\' && i + 1 < code.length()) out.append(code.charAt(++i));
                else if (c == quote) quote = 0;
                continue;
            }
            switch (c) {
                case '\'', '"' -> {
                    quote = c;
                    out.append(c);
                }
                case '(', '[', '{' -> {
                    brackets.push(c);
                    kwargOpen.push(new boolean[1]);
                    out.append(c);
                }
                case ')', ']', '}' -> {
                    if (!brackets.isEmpty()) {
                        brackets.pop();
                        if (kwargOpen.pop()[0]) out.append(')');
                    }
                    out.append(c);
                }
                case ',' -> {
                    if (!kwargOpen.isEmpty() && kwargOpen.peek()[0]) {
                        out.append(')');
                        kwargOpen.peek()[0] = false;
                    }
                    out.append(c);
                }
                case '=' -> {
                    boolean comparison = (i + 1 < code.length() && code.charAt(i + 1) == '=')
                            || (i > 0 && "=!<>".indexOf(code.charAt(i - 1)) >= 0);
                    if (!comparison && !brackets.isEmpty() && brackets.peek() == '(' && !kwargOpen.peek()[0]
                            && precededByIdentifier(code, i)) {
                        out.append("=(");
                        kwargOpen.peek()[0] = true;
                    } else {
                        out.append(c);
                    }
                }
                default -> out.append(c);
            }
        }
        return out.toString();
    }

    private static boolean precededByIdentifier(String code, int eq) {
        int j = eq - 1;
        while (j >= 0 && code.charAt(j) == ' ') j--;
        return j >= 0 && (Character.isLetterOrDigit(code.charAt(j)) || code.charAt(j) == '_');
    }
}
