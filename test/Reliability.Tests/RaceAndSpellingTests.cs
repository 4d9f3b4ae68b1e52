using System.Formats.Tar;

namespace Csshim.Reliability.Tests;

/// <summary>
/// A delete that races a create still under way waits for it instead of unmounting under a starting container; one
/// container has one staging whatever the spelling of its runtime root (`/R`, `/R/`, a symlink, no --root at all where
/// the runtime's default is the same dir); and a state dir reached through a symlink is unstaged fully without
/// recursing into the mounted merged dir (which shows the image rootfs).
/// </summary>
[TestFixture]
public class RaceAndSpellingTests : SandboxFixture
{
    private static readonly string[] Allow = ["--allow-rootfs-tar-annotation"];

    // ---- delete while the create is still running ----

    private const double CreateSleep = 2.5;

    [TestCase("runc", "create"), TestCase("runsc-2022", "create"), TestCase("runsc-2024", "create")]
    [TestCase("runc", "run"), TestCase("runsc-2022", "run")]
    public void Delete_waits_for_a_create_still_running(string runtime, string command)
    {
        var rt = Runtimes.Named(runtime);
        // The runtime's create (or run --detach) sleeps before it starts: csshim's create is alive, its staging mounted.
        var spy = SpyRuntime.Over(sb, rt, new SpyAction(command, SleepSeconds: CreateSleep));
        var bundle = sb.Bundle("slow", ["sleep", "1000"], ArchivePolicyTests.Annotated(sb.Archive("slow", Sandbox.Text("dir/file", "slow"))));
        var id = sb.Track(rt, "slow");
        string[] args = command == "run" ? ["run", "--detach", "--bundle", bundle, id] : ["create", "--bundle", bundle, id];

        ProcResult? create = null, delete = null;
        DateTime createEnded = default, deleteEnded = default;
        var creator = new Thread(() => { create = sb.Shim(spy.Runtime, args, Allow); createEnded = DateTime.UtcNow; });
        var deleter = new Thread(() => { delete = sb.Shim(spy.Runtime, ["delete", "--force", id]); deleteEnded = DateTime.UtcNow; });
        List<string> mountsBefore, mountsWhileDeleting;
        bool deleteWaited, createWasRunning;
        creator.Start();
        try
        {
            HostState.WaitUntil(() => spy.Began(command), TimeSpan.FromSeconds(30), $"the runtime's {command} to begin");
            mountsBefore = HostState.MountsUnder(sb.StagingOf(id));
            deleter.Start();
            Thread.Sleep(TimeSpan.FromSeconds(CreateSleep / 3));
            deleteWaited = deleter.IsAlive;
            createWasRunning = creator.IsAlive;
            mountsWhileDeleting = HostState.MountsUnder(sb.Dir);
        }
        finally
        {
            creator.Join();
            if (deleter.ThreadState != ThreadState.Unstarted) deleter.Join();
        }

        var createCall = spy.CallsWith(command).Single();
        var deleteCalls = spy.CallsWith("delete");
        Assert.Multiple(() =>
        {
            Assert.That(mountsBefore, Has.Count.EqualTo(2), "precondition: the staging was mounted when the delete began");
            Assert.That(createWasRunning, Is.True, "precondition: the create was still running");
            Assert.That(deleteWaited, Is.True, "the delete did not wait for the create");
            Assert.That(mountsWhileDeleting, Is.EqualTo(mountsBefore), "the delete unmounted under the starting container");
            Assert.That(create!.Status, Is.Zero, $"the create: {create}");
            Assert.That(delete!.Status, Is.Zero, $"the delete: {delete}");
            Assert.That(deleteEnded, Is.GreaterThanOrEqualTo(createEnded), "the delete returned before the create finished");
            Assert.That(deleteCalls, Has.Count.EqualTo(1), "the runtime's deletes");
            if (deleteCalls.Count == 1)
                Assert.That(deleteCalls[0].Began, Is.GreaterThanOrEqualTo(createCall.Began.AddSeconds(CreateSleep)),
                    "the runtime's delete began while its create was still sleeping");
            Assert.That(sb.StatusOf(rt, id), Is.Null, "the container outlived the delete");
        });
        sb.AssertClean("after the create and the delete that waited for it");
    }

    // ---- one staging per container whatever the spelling of --root ----

    private const string CrunName = "crun", CrunRoot = "/run/crun";
    private bool madeCrunRoot;

    /// <summary>crun's default root is /run/crun. Debian's crun cannot run a container on this machine's hybrid
    /// cgroup hierarchy, so a stand-in named crun (csshim reads the flavor and the default root from the name) keeps
    /// the state crun would: a directory per container under --root, default /run/crun.</summary>
    private RuntimeUnderTest FakeCrun()
    {
        madeCrunRoot = !Directory.Exists(CrunRoot);
        var dir = Path.Combine(sb.Dir, "fake-crun");
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, CrunName);
        File.WriteAllText(path, """
            #!/bin/sh
            root=/run/crun
            while [ $# -gt 0 ]; do
                case $1 in --root) root=$2; shift 2;; --root=*) root=${1#--root=}; shift;; -*) shift;; *) break;; esac
            done
            cmd=$1; shift
            for id; do :; done
            case $cmd in
                create) mkdir -p "$root" && mkdir "$root/$id" ;;
                state) [ -d "$root/$id" ] || { echo "container $id: No such file or directory" >&2; exit 1; }
                       printf '{"ociVersion":"1.0.0","id":"%s","pid":0,"status":"created"}\n' "$id" ;;
                delete) [ -d "$root/$id" ] || { echo "container $id: No such file or directory" >&2; exit 1; }; rmdir "$root/$id" ;;
                *) echo "fake crun: $cmd is not supported" >&2; exit 1 ;;
            esac
            """);
        File.SetUnixFileMode(path, (UnixFileMode)0b111_101_101);
        return new RuntimeUnderTest(CrunName, path, [], IsRunsc: false);
    }
    private readonly List<(RuntimeUnderTest Runtime, string Root, string Id)> defaultRootContainers = [];

    /// <summary>--root as each call spells it: "plain" /R, "slash" /R/, "link" a symlink to /R (R the sandbox's
    /// root for the runtime); "none" no --root, "canonical" the runtime's default root, "var-run" that default spelled
    /// through /var/run (a symlink to /run) with a trailing slash.</summary>
    public static IEnumerable<TestCaseData> SpellingCases()
    {
        var permutations = new[] { ("plain", "slash", "link"), ("link", "plain", "slash"), ("none", "canonical", "var-run"), ("var-run", "none", "canonical") };
        foreach (var rt in new[] { RuntimeUnderTest.Runc, RuntimeUnderTest.Runsc2022, RuntimeUnderTest.Runsc2024, CrunName })
            foreach (var (create, tar, delete) in permutations)
                if (rt is RuntimeUnderTest.Runc or CrunName || create != "link")
                    yield return new TestCaseData(rt, create, tar, delete).SetName($"Root_spelled_{create}_{tar}_{delete}_{rt}");
    }

    [TestCaseSource(nameof(SpellingCases))]
    public void Every_spelling_of_the_runtime_root_finds_the_one_staging(string runtime, string createSpelling, string tarSpelling, string deleteSpelling)
    {
        var rt = runtime == CrunName ? FakeCrun() : Runtimes.Named(runtime);
        var usesDefault = new[] { createSpelling, tarSpelling, deleteSpelling }.Contains("none");
        var root = usesDefault ? DefaultRoot(rt) : sb.RootOf(rt);
        var link = Path.Combine(sb.Dir, "root-link-" + rt.Name);
        Directory.CreateDirectory(sb.RootOf(rt));
        File.CreateSymbolicLink(link, sb.RootOf(rt));
        string? Spelled(string spelling) => spelling switch
        {
            "plain" or "canonical" => root,
            "slash" => root + "/",
            "link" => link,
            "none" => null,
            "var-run" => "/var" + root + "/",
            _ => throw new ArgumentException(spelling),
        };
        // A default root is the machine's: the id is unique, and TearDown removes what the test leaves there.
        var id = usesDefault ? $"csshim-rel-spell-{Guid.NewGuid():N}"[..28] : "spelled";
        if (usesDefault) defaultRootContainers.Add((rt, root, id)); else sb.Track(rt, id);
        var bundle = sb.Bundle("spelled", ["sleep", "1000"], ArchivePolicyTests.Annotated(sb.Archive("spelled", Sandbox.Text("dir/file", "spelled"))));

        var create = sb.ShimAt(rt, Spelled(createSpelling), ["create", "--bundle", bundle, id], Allow);
        Assert.That(create.Status, Is.Zero, $"create with --root {Spelled(createSpelling) ?? "(none)"}: {create}");
        Assert.That(sb.Stagings(), Has.Count.EqualTo(1), "stagings after the create");
        var snapshot = Path.Combine(sb.Dir, "spelled-snapshot.tar");
        var tar = sb.ShimAt(rt, Spelled(tarSpelling), ["tar", "rootfs-upper", "--file", snapshot, id]);
        Assert.Multiple(() =>
        {
            Assert.That(tar.Status, Is.Zero, $"tar with --root {Spelled(tarSpelling) ?? "(none)"}: {tar}");
            Assert.That(FileIn(snapshot, "./dir/file"), Is.EqualTo("spelled"), "the snapshot's ./dir/file");
            Assert.That(sb.Stagings(), Has.Count.EqualTo(1), "stagings after the tar");
        });
        var delete = sb.ShimAt(rt, Spelled(deleteSpelling), ["delete", "--force", id]);
        Assert.Multiple(() =>
        {
            Assert.That(delete.Status, Is.Zero, $"delete with --root {Spelled(deleteSpelling) ?? "(none)"}: {delete}");
            Assert.That(sb.Stagings(), Is.Empty, "stagings after the delete");
            Assert.That(HostState.MountsUnder(sb.Dir), Is.Empty, "mounts after the delete");
            Assert.That(Knows(rt, root, id), Is.False, "the runtime still has the container");
        });
    }

    [TearDown]
    public void RemoveDefaultRootContainers()
    {
        foreach (var (rt, root, id) in defaultRootContainers)
        {
            sb.ShimAt(rt, root, ["delete", "--force", id]);
            if (Knows(rt, root, id)) Proc.Run(rt.Path, [.. rt.GlobalArgs, "--root", root, "delete", "--force", id], sb.Logs);
        }
        defaultRootContainers.Clear();
        // The stand-in made the machine's crun root: it goes again if nothing else moved in.
        if (madeCrunRoot && Directory.Exists(CrunRoot) && !Directory.EnumerateFileSystemEntries(CrunRoot).Any()) Directory.Delete(CrunRoot);
        madeCrunRoot = false;
    }

    /// <summary>The runtime's own default root, resolved (runsc's /var/run/runsc is /run/runsc).</summary>
    private static string DefaultRoot(RuntimeUnderTest rt) =>
        rt.IsRunsc ? "/run/runsc" : rt.Name == CrunName ? CrunRoot : "/run/runc";

    private bool Knows(RuntimeUnderTest rt, string root, string id) =>
        Proc.Run(rt.Path, [.. rt.GlobalArgs, "--root", root, "state", id], sb.Logs).Status == 0;

    private static string? FileIn(string archive, string name)
    {
        if (!File.Exists(archive)) return null;
        using var stream = File.OpenRead(archive);
        using var reader = new TarReader(stream);
        while (reader.GetNextEntry() is { } e)
            if (e.Name == name && e.DataStream is not null)
                return new StreamReader(e.DataStream).ReadToEnd();
        return null;
    }

    // ---- a state dir reached through a symlink ----

    [TestCase("runc", "link", "link"), TestCase("runsc-2022", "link", "link"), TestCase("runsc-2024", "link", "link")]
    [TestCase("runc", "real", "link"), TestCase("runc", "link/", "real")]
    public void State_dir_through_a_symlink_is_unstaged_fully(string runtime, string createSpelling, string deleteSpelling)
    {
        var rt = Runtimes.Named(runtime);
        Directory.CreateDirectory(sb.StateDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var link = Path.Combine(sb.Dir, "state-link"); // as /var/run/csshim is /run/csshim
        File.CreateSymbolicLink(link, sb.StateDir);
        string Spelled(string spelling) => spelling switch { "link" => link, "link/" => link + "/", _ => sb.StateDir };
        var rootfsBefore = Listing(sb.Rootfs);
        var bundle = sb.Bundle("linked", ["sh", "-c", "echo written > /written; sleep 1000"],
            ArchivePolicyTests.Annotated(sb.Archive("linked", Sandbox.Text("dir/file", "restored"))));
        const string id = "linked";
        Lifecycle.Start(sb, rt, bundle, id, [.. Allow, "--shim-state-dir", Spelled(createSpelling)]);
        var staging = sb.StagingOf(id);
        var written = Path.Combine(staging, "layer", "upper", "written");
        HostState.WaitUntil(() => File.Exists(written), TimeSpan.FromSeconds(30), "the container's write");
        Assert.That(HostState.MountsUnder(staging), Has.Count.EqualTo(2), "precondition: the staging's two mounts");

        var snapshot = Path.Combine(sb.Dir, "linked.tar");
        var tar = sb.Shim(rt, ["tar", "rootfs-upper", "--file", snapshot, id], ["--shim-state-dir", Spelled(deleteSpelling)]);
        Assert.That(tar.Status, Is.Zero, tar.ToString());
        Assert.That(FileIn(snapshot, "./written"), Is.EqualTo("written\n"), "the snapshot through the state dir's other spelling");
        var delete = sb.Shim(rt, ["delete", "--force", id], ["--shim-state-dir", Spelled(deleteSpelling)]);
        Assert.Multiple(() =>
        {
            Assert.That(delete.Status, Is.Zero, delete.ToString());
            Assert.That(HostState.MountsUnder(sb.Dir), Is.Empty, "mounts after the delete");
            Assert.That(Directory.Exists(staging), Is.False, "the staging dir after the delete");
            Assert.That(new FileInfo(link).LinkTarget, Is.EqualTo(sb.StateDir), "the state dir's symlink");
            Assert.That(Listing(sb.Rootfs), Is.EqualTo(rootfsBefore), "the image rootfs changed: the removal went into the mounted merged dir");
            Assert.That(sb.RuntimeKnows(rt, id), Is.False, "the runtime still has the container");
        });
        sb.AssertClean("after the delete through the state dir's symlink");
    }

    private static List<string> Listing(string dir) =>
        Directory.EnumerateFileSystemEntries(dir, "*", SearchOption.AllDirectories).Order().ToList();
}
