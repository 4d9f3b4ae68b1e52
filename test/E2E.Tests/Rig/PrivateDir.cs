namespace Csshim.E2E.Rig;

/// <summary>A fixture's private directory (short path: daemons put unix sockets under it). On dispose, anything
/// still running from it is killed by PID and anything still mounted under it is unmounted before it is removed.</summary>
public sealed class PrivateDir : IDisposable
{
    public string Path { get; }

    public PrivateDir(string tag)
    {
        Path = Directory.CreateTempSubdirectory($"e2e-{tag}-").FullName;
        File.SetUnixFileMode(Path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
                                   UnixFileMode.GroupRead | UnixFileMode.GroupExecute |
                                   UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
    }

    public string Sub(params string[] parts)
    {
        var p = System.IO.Path.Combine([Path, .. parts]);
        return p;
    }

    public string Dir(params string[] parts)
    {
        var p = Sub(parts);
        Directory.CreateDirectory(p);
        return p;
    }

    public void Dispose()
    {
        Leftovers.KillProcessesMentioning(Path);
        Leftovers.UnmountUnder(Path);
        try { Directory.Delete(Path, recursive: true); }
        catch (Exception e) { TestContext.Progress.WriteLine($"e2e: could not remove {Path}: {e.Message}"); }
    }
}
