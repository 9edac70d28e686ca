# unused by the microphone
