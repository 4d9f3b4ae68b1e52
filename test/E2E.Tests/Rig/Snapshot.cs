namespace Csshim.E2E.Rig;

/// <summary>What every client test checks about a snapshot archive and the restored container.</summary>
public static class Snapshot
{
    /// <summary>The writer container of every round trip: its rootfs change is /dir/file = hello.</summary>
    public const string WriterScript = "mkdir /dir; echo hello > /dir/file; sleep 1000";

    public static void AssertHoldsDirFile(string archive)
    {
        Assert.That(File.Exists(archive), Is.True, $"snapshot {archive} was not written");
        var list = Cmd.Run("tar", "-tvf", archive).MustSucceed().Stdout;
        Assert.That(list, Does.Contain("./dir/file"), $"snapshot listing:\n{list}");
    }

    /// <summary>The writer has had time to run once its file is visible (exec'ing into it is the client's
    /// own way to look).</summary>
    public static void WaitFor(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        while (DateTime.UtcNow < deadline)
        {
            if (condition()) return;
            Thread.Sleep(100);
        }
        Assert.Fail($"timed out waiting for {what}");
    }

    public static string Garbage(string dir)
    {
        var path = Path.Combine(dir, "garbage.tar");
        File.WriteAllText(path, "this is not a tar archive\n");
        return path;
    }
}
