global using Csshim.Snapshot.Tests.Support;
global using Csshim.Tests.Rig;
global using NUnit.Framework;
global using Newtonsoft.Json.Linq;
