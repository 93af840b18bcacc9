package io.kvgate.cli;

import io.kvgate.models.KvgateException;
import io.kvgate.models.util.Progress;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The {@code kvgate} command. Bad input ({@link KvgateException}, bad flags) prints one line and exits 2;
 * {@code --verbose} adds the stack trace.
 */
@Command(name = "kvgate", mixinStandardHelpOptions = true, version = "kvgate " + io.kvgate.models.KvgateVersion.VERSION,
        description = "Gated KV-cache eviction (Fast KVzip) for frozen LLM checkpoints.",
        subcommands = {
                RunCommand.class,
                CollectCommand.class,
                TrainCommand.class,
                InspectCommand.class,
                EvalCommand.class,
                GenerateCommand.class,
                ForwardCommand.class,
                BenchCommand.class,
                ParityCommand.class,
                CommandLine.HelpCommand.class
        })
public final class Main implements Runnable {
    public static final int EXIT_BAD_INPUT = 2;

    @Option(names = "--verbose", scope = CommandLine.ScopeType.INHERIT,
            description = "Show stack traces and more detail.")
    static boolean verbose;

    @Option(names = "--quiet", scope = CommandLine.ScopeType.INHERIT,
            description = "No progress bars.")
    void quiet(boolean q) {
        Progress.setEnabled(!q);
    }

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    public static boolean verbose() {
        return verbose;
    }

    /** Runs the CLI and returns the exit code (tests call this instead of {@link #main}). */
    public static int execute(String... args) {
        CommandLine cl = new CommandLine(new Main());
        cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            Throwable t = ex;
            while (!(t instanceof KvgateException) && t.getCause() != null && t.getCause() != t) t = t.getCause();
            if (t instanceof KvgateException) {
                cmd.getErr().println("kvgate: error: " + t.getMessage());
                if (verbose) ex.printStackTrace(cmd.getErr());
                return EXIT_BAD_INPUT;
            }
            cmd.getErr().println("kvgate: internal error: " + ex);
            if (verbose) ex.printStackTrace(cmd.getErr());
            else cmd.getErr().println("(run with --verbose for the stack trace)");
            return 1;
        });
        cl.setParameterExceptionHandler((ex, a) -> {
            ex.getCommandLine().getErr().println("kvgate: error: " + ex.getMessage());
            ex.getCommandLine().getErr().println("(see '" + ex.getCommandLine().getCommandSpec().qualifiedName() + " --help')");
            return EXIT_BAD_INPUT;
        });
        return cl.execute(args);
    }

    public static void main(String[] args) {
        System.exit(execute(args));
    }
}
