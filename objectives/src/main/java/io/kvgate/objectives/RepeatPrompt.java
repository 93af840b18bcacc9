package io.kvgate.objectives;

/**
 * How the reconstruction request is worded and wrapped for a model (plain, or a chat template's user turn
 * with the repeat as the assistant answer). TODO(objectives): implementation.
 */
public final class RepeatPrompt {}
