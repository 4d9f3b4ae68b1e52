namespace Csshim.Tests.Rig;

/// <summary>
/// A process's end as waitpid(2) reports it. .NET's Process.ExitCode turns a death by signal n into 128+n, so it
/// cannot tell "killed by SIGTERM" from "exited 143"; a test about signals compares these instead.
/// </summary>
public readonly record struct WaitStatus(int Raw)
{
    // The glibc macros WIFEXITED, WEXITSTATUS, WIFSIGNALED, WTERMSIG.
    public bool Exited => (Raw & 0x7f) == 0;
    public int ExitStatus => (Raw >> 8) & 0xff;
    public bool Signaled => (Raw & 0x7f) is not 0 and not 0x7f;
    public int TermSignal => Raw & 0x7f;

    /// <summary>How the process ended, the core-dump bit left out: equal for two processes that ended alike.</summary>
    public string Outcome =>
        Exited ? $"exited {ExitStatus}"
        : Signaled ? $"killed by signal {TermSignal}"
        : $"wait status 0x{Raw:x}";

    public override string ToString() => Outcome;
}
