"""The getting-started model (docs/index.md): a stacked LSTM and a linear head, with lstmkit.LSTM in place of torch.nn.LSTM."""

import torch
import torch.nn as nn

import lstmkit


class LSTMModel(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers, output_size):
        super().__init__()
        self.lstm = lstmkit.LSTM(input_size, hidden_size, num_layers, batch_first=True)
        self.fc = nn.Linear(hidden_size, output_size)

    def forward(self, x):
        out, _ = self.lstm(x)  # out: (batch, seq, hidden)
        return self.fc(out[:, -1, :])  # the last time step


model = LSTMModel(input_size=10, hidden_size=20, num_layers=2, output_size=1)
x = torch.randn(5, 50, 10)  # 5 sequences of length 50
print(model(x).shape)  # torch.Size([5, 1])
