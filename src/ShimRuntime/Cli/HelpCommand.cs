using System.Text;

namespace Csshim.ShimRuntime.Cli;

/// <summary>`csshim help [COMMAND]`: csshim's own flags and commands from the tables; for a command csshim does not
/// handle, the runtime's own help.</summary>
internal static class HelpCommand
{
    public static int Run(CommandCall call)
    {
        var args = call.First.SubcommandArgs;
        if (args.Count > 1) throw new ShimUsageException("usage: csshim help [COMMAND]");
        if (args.Count == 0)
        {
            Console.Out.Write(Overview());
            return 0;
        }
        if (CommandTable.Find(args[0]) is { } command)
        {
            Console.Out.Write(Detail(command));
            return 0;
        }
        var invocation = call.Invocation;
        Runtime.RuntimeProcess.Exec(invocation.Runtime.Path, [.. invocation.Command.GlobalArgs, "help", args[0]]);
        return 1; // Exec returns only by throwing
    }

    private static string Overview()
    {
        var text = new StringBuilder();
        text.AppendLine("usage: csshim [csshim flags] [runtime flags] COMMAND [args]");
        text.AppendLine();
        text.AppendLine("csshim runs the real OCI runtime (runsc, runc or crun) and adds rootfs snapshots.");
        text.AppendLine();
        text.AppendLine("csshim flags (global position; consumed, never forwarded):");
        foreach (var flag in ShimFlags.All) text.AppendLine(FlagLine(flag.Name, flag.ValueName, flag.Help));
        text.AppendLine();
        text.AppendLine("Commands csshim handles:");
        var listed = CommandTable.All.Where(c => !c.Hidden).ToList();
        var width = listed.Max(c => c.Name.Length);
        foreach (var command in listed) text.AppendLine($"  {command.Name.PadRight(width)}  {command.Summary}");
        text.AppendLine();
        text.AppendLine("Every other command (start, state, ps, pause, ...) and every other flag goes to the runtime unchanged.");
        text.AppendLine("csshim --version prints csshim's version, then the runtime's. csshim help COMMAND: one command.");
        return text.ToString();
    }

    private static string Detail(ShimCommand command)
    {
        var text = new StringBuilder();
        text.AppendLine($"usage: csshim {command.Usage}");
        text.AppendLine();
        text.AppendLine(command.Summary);
        if (command.OwnFlags is null)
            text.AppendLine("Its flags are the runtime's; csshim reads only what it needs and forwards them as given.");
        return text.ToString();
    }

    private static string FlagLine(string name, string? valueName, string help) =>
        $"  --{name}{(valueName is null ? "" : " " + valueName)}\n        {help}";
}
