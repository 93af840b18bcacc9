package io.kvgate.evaluator.tasks;

/**
 * One evaluation item in the ../shared/TASKS.md format: the context is compressed before the query is seen;
 * the item is solved when the greedy continuation of context + query, decoded, starts with the answer.
 * Special tokens are written literally ({@code <|im_start|>}, {@code <|im_end|>}).
 *
 * @param id      identifier (unique within a file)
 * @param task    task kind: passkey, kv, repeat or any other name (results are grouped by it)
 * @param line    1-based line in the source file (0 for generated items)
 */
public record Task(String id, String task, String context, String query, String answer, int line) {
    /** Repeat tasks also report the per-character match. */
    public boolean isRepeat() {
        return task.equals("repeat");
    }
}
