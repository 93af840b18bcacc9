package io.kvgate.models;

/**
 * A problem the user can fix (bad file, bad key, bad value). Its message is one line that names the
 * file/key/value and what was expected; the CLI prints it without a stack trace and exits with code 2.
 * Every module throws this for bad input; programming errors stay ordinary runtime exceptions.
 */
public class KvgateException extends RuntimeException {
    public KvgateException(String message) {
        super(message);
    }

    public KvgateException(String message, Throwable cause) {
        super(message, cause);
    }
}
