package event

import "testing"

func TestSignalName(t *testing.T) {
	tests := []struct {
		sig  int32
		want string
	}{
		{0, ""}, {1, "SIGHUP"}, {9, "SIGKILL"}, {12, "SIGUSR2"}, {31, "SIGSYS"},
		{32, "SIG32"}, {33, "SIG33"}, {34, "SIGRTMIN"}, {35, "SIGRTMIN+1"}, {49, "SIGRTMIN+15"},
		{50, "SIGRTMAX-14"}, {63, "SIGRTMAX-1"}, {64, "SIGRTMAX"}, {65, "SIG65"}, {-1, "SIG-1"},
	}
	for _, tt := range tests {
		if got := SignalName(tt.sig); got != tt.want {
			t.Errorf("SignalName(%d) = %q, want %q", tt.sig, got, tt.want)
		}
	}
}
