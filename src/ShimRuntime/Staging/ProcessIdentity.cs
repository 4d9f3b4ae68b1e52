namespace Csshim.ShimRuntime.Staging;

/// <summary>A process by pid and start time (field 22 of /proc/PID/stat), so a reused pid is not mistaken for the
/// csshim that made a staging: while that csshim lives, its staging is in use even if the runtime does not know the
/// container yet (a create being forwarded) or any more (a foreground run).</summary>
internal sealed record ProcessIdentity(int Pid, long StartTicks)
{
    public static ProcessIdentity Current() => new(Environment.ProcessId, StartTicksOf(Environment.ProcessId) ?? 0);

    public bool IsAlive() => StartTicksOf(Pid) == StartTicks;

    private static long? StartTicksOf(int pid)
    {
        string stat;
        try
        {
            stat = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (IOException)
        {
            return null;
        }
        // The command name (field 2) may hold spaces and parentheses: count fields after its closing ')'.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return fields.Length > 19 && long.TryParse(fields[19], out var ticks) ? ticks : null;
    }
}
