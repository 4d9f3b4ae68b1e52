namespace Csshim.Tests.Rig;

/// <summary>
/// When a container has really stopped. The runtime's "stopped" alone is not final while a runsc sandbox exits:
/// runsc 2024 calls a container whose sandbox is an unreaped zombie "running", and under load its answer has gone
/// from "stopped" back to "running" (a delete sent on the first "stopped" was refused). The container's host
/// process (runc: its init; runsc: the sandbox, the pid `create --pid-file` writes) being reaped is final, and it
/// is what containerd's shim waits for before it deletes.
/// </summary>
public static class ContainerExit
{
    /// <summary>Polls until <paramref name="pid"/> is gone from /proc and <paramref name="status"/> (the runtime's
    /// state, null when `state` failed) then says "stopped"; false on timeout.</summary>
    public static bool WaitStopped(int pid, Func<string?> status, TimeSpan timeout)
    {
        for (var deadline = DateTime.UtcNow + timeout; DateTime.UtcNow < deadline; Thread.Sleep(100))
            if (IsReaped(pid) && status() == "stopped") return true;
        return false;
    }

    public static bool IsReaped(int pid) => !Directory.Exists($"/proc/{pid}");

    public static int ReadPidFile(string path) => int.Parse(File.ReadAllText(path).Trim());

    /// <summary>The "status" of a `state` answer, null when the command failed.</summary>
    public static string? StatusOf(int exitCode, string stateJson) =>
        exitCode == 0 ? (string?)Newtonsoft.Json.Linq.JObject.Parse(stateJson)["status"] : null;
}
