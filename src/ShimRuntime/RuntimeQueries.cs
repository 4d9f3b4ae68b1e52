using System.Text.Json;
using System.Text.Json.Nodes;

namespace Csshim.ShimRuntime;

/// <summary>Questions csshim asks the real runtime about a container, with the caller's global flags.</summary>
internal static class RuntimeQueries
{
    // runc: "container does not exist"; runsc: "loading container: file does not exist"; crun: "No such file or directory".
    private static readonly string[] UnknownContainerMessages = ["does not exist", "No such file or directory"];

    /// <summary>True when the runtime has the container; false only when it says it does not. Any other failure
    /// is an error, because callers remove staging on false.</summary>
    public static bool Knows(Invocation invocation, string id) =>
        Interpret(Ask(invocation, "state", id), invocation.Runtime.Path, id);

    /// <summary>The same question for a staging found by gc, with the runtime and root recorded at create.</summary>
    public static bool KnowsAt(string runtime, string? runtimeRoot, string id) =>
        Interpret(RuntimeProcess.Capture(runtime, runtimeRoot is null ? ["state", id] : ["--root", runtimeRoot, "state", id]), runtime, id);

    private static bool Interpret((int Status, string Stdout, string Stderr) answer, string runtime, string id)
    {
        // runsc resolves an unknown id as a prefix of another container's: only the same id counts.
        if (answer.Status == 0) return StateId(answer.Stdout) == id;
        if (UnknownContainerMessages.Any(m => answer.Stderr.Contains(m, StringComparison.Ordinal))) return false;
        throw new ShimException($"cannot tell whether container \"{id}\" exists: {runtime} state failed: {answer.Stderr.Trim()}");
    }

    private static string? StateId(string stateJson)
    {
        try
        {
            return JsonNode.Parse(stateJson)?["id"]?.GetValue<string>();
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            return null;
        }
    }

    public static (int Status, string Stdout, string Stderr) Ask(Invocation invocation, params string[] subcommandAndArgs) =>
        RuntimeProcess.Capture(invocation.Runtime.Path, [.. WithoutLog(invocation.Command.GlobalArgs), .. subcommandAndArgs]);

    /// <summary>The caller's --log must not receive csshim's probing failures: containerd reports the last error
    /// line of that file as the reason a create failed.</summary>
    private static List<string> WithoutLog(IReadOnlyList<string> globals)
    {
        var kept = new List<string>();
        for (int i = 0; i < globals.Count; i++)
        {
            var name = globals[i].TrimStart('-');
            if (name is "log" or "log-format") { i++; continue; }
            if (name.StartsWith("log=", StringComparison.Ordinal) || name.StartsWith("log-format=", StringComparison.Ordinal)) continue;
            kept.Add(globals[i]);
        }
        return kept;
    }
}
