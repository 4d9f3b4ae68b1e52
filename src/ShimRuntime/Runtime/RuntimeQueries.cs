using System.Text.Json;
using System.Text.Json.Nodes;
using Csshim.ShimRuntime.Settings;

namespace Csshim.ShimRuntime.Runtime;

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

    /// <summary>The container's status ("created", "running"...) as the runtime reports it, or null when the
    /// runtime does not answer for exactly this id.</summary>
    public static string? Status(Invocation invocation, string id)
    {
        var answer = Ask(invocation, "state", id);
        return answer.Status == 0 ? ReadState(answer.Stdout, id) : null;
    }

    private static bool Interpret((int Status, string Stdout, string Stderr) answer, string runtime, string id)
    {
        if (answer.Status == 0) return ReadState(answer.Stdout, id) is not null;
        if (SaysUnknown(answer.Stderr)) return false;
        throw new ShimException($"cannot tell whether container \"{id}\" exists: {runtime} state failed: {answer.Stderr.Trim()}");
    }

    /// <summary>The runtime's error says there is no such container.</summary>
    public static bool SaysUnknown(string stderr) => UnknownContainerMessages.Any(m => stderr.Contains(m, StringComparison.Ordinal));

    /// <summary>The status in a `state` answer, null unless the answer is about this very id: runsc resolves an
    /// unknown id as a prefix of another container's.</summary>
    private static string? ReadState(string stateJson, string id)
    {
        try
        {
            var state = JsonNode.Parse(stateJson);
            return state?["id"]?.GetValue<string>() == id ? state["status"]?.GetValue<string>() ?? "" : null;
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
